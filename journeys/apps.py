from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "journeys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from journeys import steps, timeline, triggers  # noqa: F401  (steps register)
        from profiles import hooks

        hooks.register_event_listener(triggers.on_event)
        hooks.register_profile_listener(triggers.on_profile_created)
        hooks.register_timeline_source("journeys", timeline.journey_entries)
