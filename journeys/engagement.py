"""Engagement with a journey's own messages, read from the profile's timeline.

Channels writes engagement Events (opens and clicks from the ESP, clicks on tracked SMS
links, SMS replies) with the message id in their properties; journeys reads them here.
"""

from __future__ import annotations

from datetime import datetime

from profiles.models import Event

# kind -> event names that count as it
ENGAGEMENT_EVENTS: dict[str, frozenset[str]] = {
    "opened": frozenset({"opened"}),
    "clicked": frozenset({"clicked"}),
    "replied": frozenset({"sms_replied"}),
}
REPLY_EVENTS = ENGAGEMENT_EVENTS["replied"]
ALL_ENGAGEMENT_EVENTS = frozenset().union(*ENGAGEMENT_EVENTS.values())


def event_names(kinds: list[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(ENGAGEMENT_EVENTS[kind] for kind in kinds))


def engagement_with(
    *,
    profile_id: int,
    message: dict,
    kinds: list[str] | tuple[str, ...],
    include_machine_opens: bool = False,
) -> Event | None:
    """The first engagement of those kinds with the message, or None.

    `message` is what the send step kept: {"id": ..., "channel": ..., "at": iso}. A reply
    counts when it comes after the text was sent (Twilio does not say which text it answers).
    """
    names = event_names(kinds)
    events = Event.objects.filter(profile_id=profile_id, name__in=names - REPLY_EVENTS)
    events = events.filter(properties__message_id=message["id"]).order_by("occurred_at")
    # Filtered here: a JSON exclude treats a missing key differently on each database.
    found = next(
        (
            e
            for e in events
            if include_machine_opens or not (e.properties or {}).get("machine_open")
        ),
        None,
    )
    if found is None and names & REPLY_EVENTS and message.get("channel") == "sms":
        sent_at = datetime.fromisoformat(message["at"])
        found = (
            Event.objects.filter(profile_id=profile_id, name__in=REPLY_EVENTS)
            .filter(occurred_at__gte=sent_at)
            .order_by("occurred_at")
            .first()
        )
    return found
