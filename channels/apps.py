from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anymail.signals import tracking

        from channels import timeline
        from channels.webhooks import anymail
        from profiles import hooks

        hooks.register_timeline_source("messages", timeline.message_entries)
        tracking.connect(anymail.on_tracking, dispatch_uid="channels.anymail.tracking")
