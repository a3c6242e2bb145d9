"""May we send this message now? One pure decision, and the one place that gathers its facts.

`decide` is pure: it reads only what it is handed (the profile's fields, the consent
facts, the caps and the recent sends) and returns a Decision with a reason code. It runs
at scheduling time and again at dispatch, so a backlog that crosses into quiet hours, or
a STOP that lands meanwhile, is caught before the provider is called.

`decide_send` is the database-backed wrapper the channels app calls: it gathers the
consent facts and the active caps, and takes the recent sends from the caller (the
outbox lives in channels, which compliance does not import).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from django.db.models import Q
from django.utils import timezone

from compliance import quiet_hours
from compliance.models import (
    CapAction,
    CapKind,
    CapScope,
    Category,
    ConsentStatus,
    ContactPreference,
    FrequencyCap,
    KeywordReview,
    ReviewStatus,
    Subscription,
    Suppression,
    SuppressionReason,
    Topic,
)
from compliance.quiet_hours import Recipient, state_daily_limit
from compliance.services import consent_status
from profiles.models import Channel, Profile

# Address blocks that stop even order updates; an unsubscribe or a complaint stops marketing.
BLOCKS_TRANSACTIONAL = frozenset(
    {
        SuppressionReason.SMS_STOP,
        SuppressionReason.CARRIER_OPT_OUT,
        SuppressionReason.HARD_BOUNCE,
        SuppressionReason.INVALID_ADDRESS,
        SuppressionReason.ERASURE,
    }
)
# Traits that may name the recipient's US state (e.g. Shopify's province code).
STATE_TRAITS = ("state", "region", "province_code", "province")


class Outcome(StrEnum):
    ALLOW = "allow"
    DEFER = "defer"  # try again at `until`
    SKIP = "skip"  # not now and not later: a cap or a pause says so
    SUPPRESS = "suppress"  # not permitted: consent, suppression, STOP
    SWITCH = "switch"  # send on `channel` instead (a cap with the switch action)


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    until: datetime | None = None
    channel: str | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == Outcome.ALLOW


@dataclass(frozen=True, slots=True)
class RecentSend:
    """A marketing or transactional message already sent (or being sent) to the person."""

    at: datetime
    channel: str
    category: str = "marketing"


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """What compliance knows about one channel of one profile."""

    address: str = ""
    status: str = "never"  # consent_status for the channel and topic
    channel_status: str = "never"  # consent_status for the channel as a whole
    suppression: str = ""  # reason of an active suppression on the address, else ""
    review_pending: bool = False  # an unclear SMS reply awaits review: marketing paused


@dataclass(frozen=True, slots=True)
class Facts:
    channels: dict[str, ChannelFacts]
    paused_until: datetime | None = None
    primary_channel: str = ""


@dataclass(frozen=True, slots=True)
class Cap:
    """A FrequencyCap row as plain data."""

    key: str
    kind: str  # count, gap, state_sms
    channel: str  # email, sms, any
    action: str  # defer, skip, switch
    max_messages: int | None = None
    window_hours: int | None = None
    min_gap_minutes: int | None = None


def decide(
    *,
    profile: Profile,
    channel: str,
    category: str,
    topic: str | None,
    at: datetime,
    recent_sends: Sequence[RecentSend],
    facts: Facts,
    caps: Iterable[Cap] = (),
) -> Decision:
    """Allow, defer until a time, skip, switch channel or suppress, with a reason code.

    Order: permission (suppression, consent; never overridden), then for marketing only:
    the person's pause, an open opt-out review (SMS), the caps in order (the first breached
    decides), quiet hours (SMS). A deferral lands on an instant quiet hours allow.
    """
    if at.tzinfo is None:
        raise ValueError("decide needs an aware datetime")
    if refusal := _refusal(channel, category, facts):
        return refusal
    if category == Category.TRANSACTIONAL:
        return Decision(Outcome.ALLOW, "transactional")
    if facts.paused_until and at < facts.paused_until:
        return Decision(Outcome.SKIP, "paused_by_person", until=facts.paused_until)
    if channel == Channel.SMS and facts.channels[channel].review_pending:
        return Decision(Outcome.SKIP, "sms_opt_out_review_pending")
    location = _location(profile)
    caps = tuple(caps)
    for cap in caps:
        if (until := _breach(cap, channel, at, recent_sends, location)) is not None:
            return _on_breach(cap, until, profile, channel, at, recent_sends, facts, caps)
    return _quiet_hours(profile, channel, at, location) or Decision(Outcome.ALLOW, "allowed")


def _refusal(channel: str, category: str, facts: Facts) -> Decision | None:
    """Suppress when the address or the person's consent forbids the message."""
    if channel not in facts.channels:
        raise ValueError(f"unknown channel {channel!r}")
    mine = facts.channels[channel]
    if not mine.address:
        return Decision(Outcome.SUPPRESS, "no_address")
    transactional = category == Category.TRANSACTIONAL
    if mine.suppression and (not transactional or mine.suppression in BLOCKS_TRANSACTIONAL):
        return Decision(Outcome.SUPPRESS, f"suppressed_{mine.suppression}")
    if transactional:
        # Order updates skip topic preferences, never a STOP.
        if channel == Channel.SMS and mine.channel_status == ConsentStatus.UNSUBSCRIBED:
            return Decision(Outcome.SUPPRESS, "consent_unsubscribed")
        return None
    if mine.status != ConsentStatus.SUBSCRIBED:
        return Decision(Outcome.SUPPRESS, f"consent_{mine.status}")
    return None


def _breach(
    cap: Cap, channel: str, at: datetime, sends: Sequence[RecentSend], location: Recipient
) -> datetime | None:
    """When the cap frees up, if sending at `at` would breach it; else None."""
    if cap.channel not in (CapScope.ANY, channel):
        return None
    if cap.kind == CapKind.GAP:
        times = _times(sends, cap.channel, at, None)
        gap = timedelta(minutes=cap.min_gap_minutes or 0)
        return times[-1] + gap if times and at - times[-1] < gap else None
    if cap.kind == CapKind.STATE_SMS:
        limit, window = state_daily_limit(location.states), timedelta(hours=24)
    else:
        limit, window = cap.max_messages, timedelta(hours=cap.window_hours or 0)
    if not limit:
        return None
    times = _times(sends, cap.channel, at, window)
    return times[len(times) - limit] + window if len(times) >= limit else None


def _times(
    sends: Sequence[RecentSend], scope: str, at: datetime, window: timedelta | None
) -> list[datetime]:
    """Marketing send times on the scope's channels inside (at - window, at], oldest first."""
    floor = at - window if window is not None else None
    return sorted(
        send.at
        for send in sends
        if send.category == Category.MARKETING
        and (scope == CapScope.ANY or send.channel == scope)
        and send.at <= at
        and (floor is None or send.at > floor)
    )


def _on_breach(cap, until, profile, channel, at, sends, facts, caps) -> Decision:
    reason = f"cap_{cap.key}"
    if cap.action == CapAction.SKIP:
        return Decision(Outcome.SKIP, reason)
    if cap.action == CapAction.SWITCH:
        other = Channel.SMS if channel == Channel.EMAIL else Channel.EMAIL
        if _may_send_now(profile, other, at, sends, facts, caps):
            return Decision(Outcome.SWITCH, reason, channel=other)
    if channel == Channel.SMS:
        until = quiet_hours.next_allowed_time(at=until, location=_location(profile))
    return Decision(Outcome.DEFER, reason, until=until)


def _may_send_now(profile, channel, at, sends, facts, caps) -> bool:
    """The switch target must be allowed outright: consent, no review, no cap, no quiet hours."""
    if _refusal(channel, Category.MARKETING, facts):
        return False
    if channel == Channel.SMS and facts.channels[channel].review_pending:
        return False
    location = _location(profile)
    if any(_breach(cap, channel, at, sends, location) is not None for cap in caps):
        return False
    return _quiet_hours(profile, channel, at, location) is None


def _quiet_hours(profile, channel: str, at: datetime, location: Recipient) -> Decision | None:
    if channel != Channel.SMS:
        return None
    reason = quiet_hours.quiet_hours_reason(at=at, location=location)
    if reason is None:
        return None
    allowed = quiet_hours.next_allowed_time(at=at, location=location)
    # Spread the release so a night's backlog does not leave in one burst at 08:00.
    until = quiet_hours.release_spread(allowed_at=allowed, key=str(profile.pk))
    return Decision(Outcome.DEFER, reason, until=until)


def _location(profile: Profile) -> Recipient:
    traits = profile.traits if isinstance(profile.traits, dict) else {}
    state = next((traits[k] for k in STATE_TRAITS if isinstance(traits.get(k), str)), "")
    return _cached_location(profile.time_zone or "", _phone_text(profile), state)


def _phone_text(profile: Profile) -> str:
    # str() or len() of a PhoneNumber re-validates it each time: read the stored text.
    phone = profile.phone
    return getattr(phone, "raw_input", None) or (phone if isinstance(phone, str) else "")


@lru_cache(maxsize=65536)
def _cached_location(time_zone: str, phone: str, state: str) -> Recipient:
    return quiet_hours.recipient_location(profile_time_zone=time_zone, phone=phone, state=state)


# --- The database side ------------------------------------------------------------------------


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
    topic = _topic(topic)
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
        address = _address(profile, channel)
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
    *, profiles: Iterable[Profile], topics: Mapping[int, Topic | None]
) -> dict[int, Facts]:
    """facts_gather for many profiles in four queries: {profile id: Facts}.

    `topics` names the topic to read consent for, per profile id (absent: no topic).
    """
    profiles = {profile.pk: profile for profile in profiles}
    addresses = {
        (pk, channel): _address(profile, channel)
        for pk, profile in profiles.items()
        for channel in Channel.values
    }
    states = _subscription_states(profiles, topics)
    blocked = _suppressions_many(set(addresses.items()))
    reviewed = _open_reviews({a for (_, ch), a in addresses.items() if a and ch == Channel.SMS})
    preferences = _preferences_many(profiles)
    return {
        pk: Facts(
            channels={
                channel: _channel_facts(
                    addresses[pk, channel], channel, states, pk, topics.get(pk), blocked, reviewed
                )
                for channel in Channel.values
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
    topic_ids = {topic.pk for topic in topics.values() if topic is not None}
    rows = Subscription.objects.filter(
        Q(topic__isnull=True) | Q(topic_id__in=topic_ids), profile_id__in=list(profiles)
    ).values_list("profile_id", "channel", "topic_id", "status")
    return {(pk, channel, topic_id): status for pk, channel, topic_id, status in rows}


def _suppressions_many(pairs: set) -> dict[tuple[str, str], set[str]]:
    wanted = {(address, channel) for (_, channel), address in pairs if address}
    if not wanted:
        return {}
    found: dict[tuple[str, str], set[str]] = {}
    rows = Suppression.objects.filter(
        address__in={address for address, _ in wanted}, lifted_at__isnull=True
    ).values_list("address", "channel", "reason")
    for address, channel, reason in rows:
        if (address, channel) in wanted:
            found.setdefault((address, channel), set()).add(reason)
    return found


def _open_reviews(numbers: set[str]) -> set[str]:
    if not numbers:
        return set()
    return set(
        KeywordReview.objects.filter(address__in=numbers, status=ReviewStatus.OPEN).values_list(
            "address", flat=True
        )
    )


def _preferences_many(profiles: dict) -> dict[int, tuple[datetime | None, str]]:
    rows = ContactPreference.objects.filter(profile_id__in=list(profiles)).values_list(
        "profile_id", "paused_until", "primary_channel"
    )
    return {pk: (paused, primary) for pk, paused, primary in rows}


def caps_active() -> tuple[Cap, ...]:
    rows = FrequencyCap.objects.filter(is_active=True).order_by("position", "id")
    return tuple(
        Cap(
            key=row.key,
            kind=row.kind,
            channel=row.channel,
            action=row.action,
            max_messages=row.max_messages,
            window_hours=row.window_hours,
            min_gap_minutes=row.min_gap_minutes,
        )
        for row in rows
    )


def _address(profile: Profile, channel: str) -> str:
    value = profile.email if channel == Channel.EMAIL else profile.phone
    return str(value) if value else ""


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


def _topic(topic: Topic | str | None) -> Topic | None:
    if topic is None or isinstance(topic, Topic):
        return topic
    return Topic.objects.get(key=topic)


__all__ = [
    "Cap",
    "ChannelFacts",
    "Channel",
    "Decision",
    "Facts",
    "Outcome",
    "RecentSend",
    "caps_active",
    "decide",
    "decide_send",
    "facts_gather",
    "facts_gather_many",
]
