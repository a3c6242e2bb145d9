from django.urls import path

from journeys import api

app_name = "journeys_api"

urlpatterns = [path("enter", api.enter, name="enter")]
