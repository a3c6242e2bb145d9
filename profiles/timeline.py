"""The profile timeline's own source: stored events."""

from collections.abc import Iterator

from django.urls import reverse

from profiles.hooks import TimelineEntry
from profiles.models import Event, Profile


def event_entries(profile: Profile, limit: int) -> Iterator[TimelineEntry]:
    for event in Event.objects.filter(profile=profile).order_by("-occurred_at")[:limit]:
        yield TimelineEntry(
            at=event.occurred_at,
            kind="event",
            title=event.name,
            detail=_summary(event.properties),
            channel=event.channel,
            url=reverse("admin:profiles_event_change", args=[event.pk]),
            data={"source": event.get_source_display(), "value": event.value},
        )


def _summary(properties: dict, limit: int = 6) -> str:
    parts = [f"{key}: {value}" for key, value in list(properties.items())[:limit]]
    if len(properties) > limit:
        parts.append(f"+{len(properties) - limit} more")
    return " · ".join(parts)
