"""What comes back: provider status updates, engagement events, tracked link clicks."""

from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from channels.models import Link, Message, MessageStatus
from channels.models.outbox import STATUS_RANK
from profiles.models import Event, EventSource
from profiles.services import event_track

# The timeline and journeys see these event names, with the message's channel:
# delivered, bounced, failed, opened, clicked, complained, unsubscribed.
STAMPS = {
    MessageStatus.DELIVERED: "delivered_at",
}


def message_status_advance(
    *,
    message: Message,
    status: str,
    provider_status: str = "",
    error_code: str = "",
    error_text: str = "",
    at: datetime | None = None,
) -> bool:
    """Move the message up the delivery ladder; a late or lower status changes nothing."""
    return status_advance(
        pk=message.pk,
        current=message.status,
        status=status,
        provider_status=provider_status,
        error_code=error_code,
        error_text=error_text,
        at=at,
    )


def status_advance(
    *,
    pk: int,
    current: str,
    status: str,
    provider_status: str = "",
    error_code: str = "",
    error_text: str = "",
    at: datetime | None = None,
) -> bool:
    """message_status_advance for a message known by its id and the status read with it."""
    if current not in STATUS_RANK or STATUS_RANK[status] <= STATUS_RANK[current]:
        return False
    fields: dict[str, Any] = {"status": status, "provider_status": provider_status}
    if error_code or error_text:
        fields.update(provider_error_code=error_code, provider_error_text=error_text[:5000])
    if status in STAMPS:
        fields[STAMPS[status]] = at or timezone.now()
    moved = Message.objects.filter(pk=pk, status=current).update(**fields)
    return moved == 1


def engagement_record(
    *,
    message: Message,
    name: str,
    key: str,
    properties: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event | None:
    """An engagement event on the person's timeline, once per `key`."""
    if message.profile_id is None:
        return None
    return event_track(
        profile=message.profile,
        name=name,
        channel=message.channel,
        source=EventSource.WEBHOOK,
        occurred_at=occurred_at,
        idempotency_key=f"channels:{key}",
        properties={
            "message_id": message.pk,
            "template": message.template.key if message.template_id else "",
            **(properties or {}),
        },
    )


def _stamp_first(message: Message, field: str, at: datetime) -> bool:
    """Set opened_at / clicked_at once; True only for the first."""
    return (
        Message.objects.filter(pk=message.pk, **{f"{field}__isnull": True}).update(**{field: at})
        == 1
    )


def link_follow(*, code: str) -> str | None:
    """The target of a short link we created (else None); the first click is an event."""
    link = (
        Link.objects.select_related("message__profile", "message__template")
        .filter(code=code)
        .first()
    )
    if link is None:
        return None
    now = timezone.now()
    Link.objects.filter(pk=link.pk).update(clicks=F("clicks") + 1)
    Link.objects.filter(pk=link.pk, first_clicked_at__isnull=True).update(first_clicked_at=now)
    if _stamp_first(link.message, "clicked_at", now):
        engagement_record(
            message=link.message,
            name="clicked",
            key=f"clicked:{link.message_id}",
            properties={"url": link.url, "link": link.code},
            occurred_at=now,
        )
    return link.url


def opened_or_clicked(message: Message, name: str, at: datetime) -> bool:
    field = "opened_at" if name == "opened" else "clicked_at"
    return _stamp_first(message, field, at)
