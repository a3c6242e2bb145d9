from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from profiles import hooks, timeline

        hooks.register_timeline_source("events", timeline.event_entries)
