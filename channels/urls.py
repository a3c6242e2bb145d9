"""Public channel URLs: tracked short links."""

from django.urls import path

from channels import views

app_name = "channels"

urlpatterns = [
    path("l/<str:code>", views.link_redirect, name="link"),
]
