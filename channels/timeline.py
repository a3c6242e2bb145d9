"""Messages on the profile timeline."""

from collections.abc import Iterator

from django.urls import reverse

from channels.models import Message
from profiles.hooks import TimelineEntry
from profiles.models import Profile


def message_entries(profile: Profile, limit: int) -> Iterator[TimelineEntry]:
    rows = Message.objects.filter(profile=profile).select_related("template")
    for message in rows.order_by("-created_at")[:limit]:
        name = message.template.name if message.template_id else message.subject or "message"
        reason = f" · {message.reason}" if message.reason else ""
        yield TimelineEntry(
            at=message.sent_at or message.created_at,
            kind="message",
            title=f"{message.get_channel_display()}: {name}",
            detail=f"{message.get_status_display()}{reason}",
            channel=message.channel,
            url=reverse("admin:channels_message_change", args=[message.pk]),
            data={"status": message.status, "message_id": message.pk},
        )
