"""Hosted pages for customers: preference centre, one-click unsubscribe, sign-up."""

from django.urls import path

from compliance import views

app_name = "compliance"

urlpatterns = [
    path("preferences/<str:token>/", views.preferences_page, name="preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/confirm/<str:token>/", views.subscribe_confirm, name="subscribe_confirm"),
]
