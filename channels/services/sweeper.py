"""Housekeeping: messages left in sending by a crash, and waiting messages now due."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from channels.models import Message, MessageStatus

# A queued message with no time set is dispatched by whoever queued it; one still waiting
# after this long lost its task (a crash, a flushed queue) and the sweeper sends it.
ORPHAN_AFTER = timedelta(minutes=5)


def messages_mark_unknown(*, now: datetime | None = None) -> int:
    """Messages in sending past SENDING_TIMEOUT_MINUTES become unknown (never resent)."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.SENDING_TIMEOUT_MINUTES)
    return Message.objects.filter(
        status=MessageStatus.SENDING, sending_started_at__lt=cutoff
    ).update(status=MessageStatus.UNKNOWN, reason="stuck_in_sending")


def messages_release_due(
    *, now: datetime | None = None, limit: int = 500, batch_size: int = 200
) -> int:
    """Dispatch deferred and retry-queued messages whose time has come, in batches; returns
    how many were handed to dispatch."""
    from channels.services.dispatch import dispatch_many

    now = now or timezone.now()
    due = Q(status__in=[MessageStatus.QUEUED, MessageStatus.DEFERRED], scheduled_for__lte=now)
    orphaned = Q(
        status=MessageStatus.QUEUED, scheduled_for__isnull=True, created_at__lt=now - ORPHAN_AFTER
    )
    ids = list(
        Message.objects.filter(due | orphaned)
        .order_by("scheduled_for", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for start in range(0, len(ids), batch_size):
        dispatch_many(messages=ids[start : start + batch_size])
    return len(ids)
