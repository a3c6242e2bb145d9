from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `make demo`; the top layer, so it may use every other app."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"
