"""Consent changes on the profile timeline."""

from collections.abc import Iterator

from django.urls import reverse

from compliance.models import ConsentEvent
from profiles.hooks import TimelineEntry
from profiles.models import Profile


def consent_entries(profile: Profile, limit: int) -> Iterator[TimelineEntry]:
    events = ConsentEvent.objects.filter(profile=profile).select_related("topic")
    for event in events.order_by("-occurred_at")[:limit]:
        scope = event.topic.name if event.topic_id else "all topics"
        verb = event.get_action_display()
        yield TimelineEntry(
            at=event.occurred_at,
            kind="consent",
            title=f"{verb}: {event.get_channel_display()} ({scope})",
            detail=f"{event.get_source_display()} · {event.outcome}"
            + ("" if event.applied else " · not applied"),
            channel=event.channel,
            url=reverse("admin:compliance_consentevent_change", args=[event.pk]),
        )
