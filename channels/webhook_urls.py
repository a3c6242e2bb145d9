"""Provider webhooks owned by channels (mounted under /webhooks/)."""

from django.urls import path

from channels.webhooks import twilio

app_name = "channels_webhooks"

urlpatterns = [
    path("twilio/status/", twilio.status_callback, name="twilio_status"),
]
