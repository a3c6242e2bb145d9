"""django-q2 entry points (thin): each calls a service."""

from channels.models import Message
from channels.services import dispatch, messages_mark_unknown, messages_release_due


def dispatch_message(message_id: int) -> str:
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return "gone"
    return dispatch(message=message).status


def sweep() -> str:
    """Every minute: stuck sends become unknown, then due messages go out."""
    unknown = messages_mark_unknown()
    released = messages_release_due()
    return f"{unknown} unknown, {released} released"


def ensure_schedules() -> None:
    """Idempotent: the one-minute sweep and webhook drain (setup_schedules, every deploy)."""
    from django_q.models import Schedule

    for name, func in (
        ("channels.sweep", "channels.tasks.sweep"),
        # Status callbacks queued in Redis are drained by a task their burst queues; this
        # catches any a lost task left (channels/webhooks/inbox.py).
        ("channels.webhooks-drain", "channels.webhooks.inbox.drain"),
    ):
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1,
                      "repeats": -1},
        )  # fmt: skip
