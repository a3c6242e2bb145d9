from django.urls import path

from profiles import api

app_name = "api"

urlpatterns = [
    path("identify", api.identify, name="identify"),
    path("track", api.track, name="track"),
    path("batch", api.batch, name="batch"),
]
