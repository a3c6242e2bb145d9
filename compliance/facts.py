"""The database side of the send decision: facts about people, the active caps.

`decide` (compliance/decide.py) is pure; these gather what it needs. `decide_send` is what
channels calls for one message, `facts_gather_many` what its batch dispatch calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from django.db.models import F, Q
from django.utils import timezone

from compliance.decide import (
    BLOCKS_TRANSACTIONAL,
    Cap,
    ChannelFacts,
    Decision,
    Facts,
    RecentSend,
    decide,
)
from compliance.models import (
    ConsentStatus,
    ContactPreference,
    FrequencyCap,
    KeywordReview,
    ReviewStatus,
    Subscription,
    Suppression,
    Topic,
)
from compliance.reads import AnyOf, read_rows
from compliance.services import consent_status, profile_address, topic_from
from profiles.models import Channel, Profile

CHANNELS = tuple(Channel.values)  # (Channel.values builds its list on every read)


def decide_send(
    *,
    profile: Profile,
    channel: str,
    category: str,
    topic: Topic | str | None = None,
    at: datetime | None = None,
    recent_sends: Sequence[RecentSend] = (),
) -> Decision:
    """decide() over the facts in the database and the active caps, at `at` (default now).

    The caller passes the recent sends (the outbox is in channels) and should hold the
    profile's row lock, so that a STOP and a send never interleave.
    """
    topic = topic_from(topic)
    return decide(
        profile=profile,
        channel=channel,
        category=category,
        topic=topic.key if topic else None,
        at=at or timezone.now(),
        recent_sends=recent_sends,
        facts=facts_gather(profile=profile, topic=topic),
        caps=caps_active(),
    )


def facts_gather(*, profile: Profile, topic: Topic | None = None) -> Facts:
    """Consent, suppression, review and pause facts for both channels of a profile."""
    preference = ContactPreference.objects.filter(profile=profile).first()
    channels = {}
    for channel in Channel.values:
        address = profile_address(profile, channel)
        channels[channel] = ChannelFacts(
            address=address,
            status=consent_status(profile=profile, channel=channel, topic=topic),
            channel_status=consent_status(profile=profile, channel=channel),
            suppression=_suppression(address, channel),
            review_pending=bool(address)
            and channel == Channel.SMS
            and KeywordReview.objects.filter(address=address, status=ReviewStatus.OPEN).exists(),
        )
    return Facts(
        channels=channels,
        paused_until=preference.paused_until if preference else None,
        primary_channel=preference.primary_channel if preference else "",
    )


def facts_gather_many(
    *,
    profiles: Iterable[Profile],
    topics: Mapping[int, Topic | None],
    preferences: Mapping[int, ContactPreference | None] | None = None,
) -> dict[int, Facts]:
    """facts_gather for many profiles in four queries: {profile id: Facts}.

    `topics` names the topic to read consent for, per profile id (absent: no topic).
    `preferences`: the ContactPreference (or None: none) of profiles the caller has already
    read, under the same profile locks; the others are read here.
    """
    profiles = {profile.pk: profile for profile in profiles}
    addresses = {
        (pk, channel): profile_address(profile, channel)
        for pk, profile in profiles.items()
        for channel in CHANNELS
    }
    states = _subscription_states(profiles, topics)
    blocked = _suppressions_many(set(addresses.items()))
    reviewed = _open_reviews({a for (_, ch), a in addresses.items() if a and ch == Channel.SMS})
    known = preferences or {}
    preferences = _preferences_many([pk for pk in profiles if pk not in known])
    for pk, preference in known.items():
        if preference is not None:
            preferences[pk] = (preference.paused_until, preference.primary_channel)
    return {
        pk: Facts(
            channels={
                channel: _channel_facts(
                    addresses[pk, channel], channel, states, pk, topics.get(pk), blocked, reviewed
                )
                for channel in CHANNELS
            },
            paused_until=preferences.get(pk, (None, ""))[0],
            primary_channel=preferences.get(pk, (None, ""))[1],
        )
        for pk in profiles
    }


def _channel_facts(address, channel, states, pk, topic, blocked, reviewed) -> ChannelFacts:
    channel_state = states.get((pk, channel, None), ConsentStatus.NEVER)
    return ChannelFacts(
        address=address,
        status=_topic_state(channel_state, states, pk, channel, topic),
        channel_status=str(channel_state),
        suppression=_strongest(blocked.get((address, channel), set())) if address else "",
        review_pending=bool(address) and channel == Channel.SMS and address in reviewed,
    )


def _topic_state(channel_state: str, states: dict, pk: int, channel: str, topic) -> str:
    """consent_status's rule: a topic is reachable only through its channel's consent."""
    if topic is None or channel_state != ConsentStatus.SUBSCRIBED:
        return str(channel_state)
    if (pk, channel, topic.pk) in states:
        return str(states[pk, channel, topic.pk])
    return ConsentStatus.SUBSCRIBED if topic.is_default else ConsentStatus.NEVER


def _subscription_states(profiles: dict, topics: Mapping[int, Topic | None]) -> dict:
    topic_ids = list({topic.pk for topic in topics.values() if topic is not None})
    rows = read_rows("facts:subscriptions", _subscriptions, list(profiles), topic_ids)
    return {(pk, channel, topic_id): status for pk, channel, topic_id, status in rows}


def _subscriptions(profile_ids, topic_ids):
    return (
        Subscription.objects.filter(
            Q(topic__isnull=True) | Q(AnyOf(F("topic_id"), topic_ids)),
            AnyOf(F("profile_id"), profile_ids),
        )
        .order_by()
        .values_list("profile_id", "channel", "topic_id", "status")
    )


def _suppressions_many(pairs: set) -> dict[tuple[str, str], set[str]]:
    wanted = {(address, channel) for (_, channel), address in pairs if address}
    if not wanted:
        return {}
    found: dict[tuple[str, str], set[str]] = {}
    rows = read_rows("facts:suppressions", _suppressions, list({a for a, _ in wanted}))
    for address, channel, reason in rows:
        if (address, channel) in wanted:
            found.setdefault((address, channel), set()).add(reason)
    return found


def _suppressions(addresses):
    return (
        Suppression.objects.filter(AnyOf(F("address"), addresses), lifted_at__isnull=True)
        .order_by()
        .values_list("address", "channel", "reason")
    )


def _open_reviews(numbers: set[str]) -> set[str]:
    if not numbers:
        return set()
    rows = read_rows("facts:reviews", _reviews, list(numbers))
    return {address for (address,) in rows}


def _reviews(numbers):
    return (
        KeywordReview.objects.filter(AnyOf(F("address"), numbers), status=ReviewStatus.OPEN)
        .order_by()
        .values_list("address")
    )


def _preferences_many(profile_ids: list[int]) -> dict[int, tuple[datetime | None, str]]:
    if not profile_ids:
        return {}
    rows = read_rows("facts:preferences", _preferences, profile_ids)
    return {pk: (paused, primary) for pk, paused, primary in rows}


def _preferences(profile_ids):
    return (
        ContactPreference.objects.filter(AnyOf(F("profile_id"), profile_ids))
        .order_by()
        .values_list("profile_id", "paused_until", "primary_channel")
    )


def caps_active() -> tuple[Cap, ...]:
    return tuple(Cap(*row) for row in read_rows("facts:caps", _caps))


def _caps():
    return (
        FrequencyCap.objects.filter(is_active=True)
        .order_by("position", "id")
        .values_list(
            "key", "kind", "channel", "action", "max_messages", "window_hours", "min_gap_minutes"
        )
    )


def _suppression(address: str, channel: str) -> str:
    if not address:
        return ""
    reasons = set(
        Suppression.objects.filter(
            address=address, channel=channel, lifted_at__isnull=True
        ).values_list("reason", flat=True)
    )
    return _strongest(reasons)


def _strongest(reasons: set[str]) -> str:
    # Report the reason that blocks the most, so transactional mail sees it too.
    blocking = reasons & BLOCKS_TRANSACTIONAL
    return min(blocking or reasons, default="")
