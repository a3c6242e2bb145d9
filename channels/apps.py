from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anymail.signals import tracking
        from django_q.signals import post_spawn

        from channels import confirmations, timeline, worker
        from channels.webhooks import anymail
        from compliance import notify
        from profiles import hooks

        hooks.register_timeline_source("messages", timeline.message_entries)
        notify.register_sender("email_confirmation", confirmations.confirmation_email_send)
        notify.register_sender("sms_confirmation", confirmations.confirmation_sms_send)
        tracking.connect(anymail.on_tracking, dispatch_uid="channels.anymail.tracking")
        post_spawn.connect(worker.freeze_startup_heap, dispatch_uid="channels.worker.freeze")
