from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from compliance import merging, services, timeline
        from profiles import hooks

        hooks.register_timeline_source("consent", timeline.consent_entries)
        hooks.register_merge_handler(services.merge_subscriptions)
        hooks.register_merge_handler(merging.merge_preferences)
        hooks.register_merge_handler(merging.merge_reviews)
