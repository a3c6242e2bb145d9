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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from profiles.models import Channel, Profile


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
    raise NotImplementedError  # landing next


def decide_send(
    *,
    profile: Profile,
    channel: str,
    category: str,
    topic: str | None = None,
    at: datetime | None = None,
    recent_sends: Sequence[RecentSend] = (),
) -> Decision:
    raise NotImplementedError  # landing next


__all__ = [
    "Cap",
    "ChannelFacts",
    "Channel",
    "Decision",
    "Facts",
    "Outcome",
    "RecentSend",
    "decide",
    "decide_send",
]
