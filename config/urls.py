from django.contrib import admin
from django.urls import include, path

from config.health import healthz

admin.site.site_header = "Tandem"
admin.site.site_title = "Tandem"
admin.site.index_title = "Marketing operations"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/journeys/", include("journeys.api_urls")),
    path("api/v1/", include("profiles.api_urls")),
    path("healthz", healthz, name="healthz"),
    path("webhooks/twilio/", include("compliance.webhook_urls")),
    path("webhooks/", include("channels.webhook_urls")),
    path("webhooks/anymail/", include("anymail.urls")),
    path("", include("channels.urls")),
    path("", include("compliance.urls")),
]
