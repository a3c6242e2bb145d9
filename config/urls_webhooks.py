"""The webhook pool's URLs (config.settings_webhooks): the same paths as config.urls."""

from django.urls import include, path

from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("webhooks/twilio/", include("compliance.webhook_urls")),
    path("webhooks/", include("channels.webhook_urls")),
    path("webhooks/anymail/", include("anymail.urls")),
]
