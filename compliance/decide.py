"""May we send this message now? One pure decision.

`decide` is pure: it reads only what it is handed (the profile's fields, the consent
facts, the caps and the recent sends) and returns a Decision with a reason code. It runs
at scheduling time and again at dispatch, so a backlog that crosses into quiet hours, or
a STOP that lands meanwhile, is caught before the provider is called.

compliance/facts.py gathers its facts from the database: `decide_send` for one message,
`facts_gather_many` for a batch. The caller passes the recent sends (the outbox lives in
channels, which compliance does not import).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from compliance import quiet_hours
from compliance.models import (
    CapAction,
    CapKind,
    CapScope,
    Category,
    ConsentStatus,
    SuppressionReason,
)
from compliance.quiet_hours import Recipient, state_daily_limit
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
        if not sends:  # no earlier send to keep a gap from
            return None
        times = _times(sends, cap.channel, at, None)
        gap = timedelta(minutes=cap.min_gap_minutes or 0)
        return times[-1] + gap if times and at - times[-1] < gap else None
    if cap.kind == CapKind.STATE_SMS:
        limit, window = state_daily_limit(location.states), timedelta(hours=24)
    else:
        limit, window = cap.max_messages, timedelta(hours=cap.window_hours or 0)
    if not limit or (not sends and limit > 0):  # no limit, or none of it used
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
    return _cached_location(profile.time_zone or "", profile.phone_text, state)


@lru_cache(maxsize=65536)
def _cached_location(time_zone: str, phone: str, state: str) -> Recipient:
    return quiet_hours.recipient_location(profile_time_zone=time_zone, phone=phone, state=state)


__all__ = [
    "Cap",
    "ChannelFacts",
    "Channel",
    "Decision",
    "Facts",
    "Outcome",
    "RecentSend",
    "decide",
]
