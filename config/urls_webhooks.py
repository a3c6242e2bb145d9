"""The webhook pool's URLs (config.settings_webhooks): the same paths as config.urls.

Flat, the status callback first: a callback is resolved on the first pattern tried, not
through three levels of include (tests/channels/test_webhook_pool.py checks that each path
reaches the same view as on the main site).
"""

from django.urls import include, path

from channels.webhooks.twilio import status_callback
from compliance.webhooks import twilio_inbound
from config.health import healthz

urlpatterns = [
    path("webhooks/twilio/status/", status_callback),
    path("webhooks/twilio/inbound/", twilio_inbound),
    path("webhooks/anymail/", include("anymail.urls")),
    path("healthz", healthz),
]
