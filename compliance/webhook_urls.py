"""Twilio webhooks owned by compliance (inbound SMS: keywords act before any later send)."""

from django.urls import path

from compliance import webhooks

app_name = "compliance_webhooks"

urlpatterns = [
    path("inbound/", webhooks.twilio_inbound, name="twilio_inbound"),
]
