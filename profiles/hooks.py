"""Hooks through which higher apps (compliance, channels, journeys) plug into profiles.

A plain registry of callables, used everywhere instead of Django signals: each higher app
registers from its `AppConfig.ready()`, so no import ever runs up the layering.

- `event_listeners`: called with each newly stored Event, after its transaction commits
  (journeys: triggers, goals and wake-ups).
- `timeline_sources`: called with (profile, limit) and return TimelineEntry rows for the
  admin timeline (events, consent changes, messages, journey steps).
- `merge_handlers`: called with (survivor, absorbed) inside the merge transaction, before
  the generic move of related rows, for models whose unique constraints need care.
- `profile_listeners`: called with each profile created through `profile_upsert` (API,
  sign-up, admin services; not the set-based import), after its transaction commits
  (journeys: the "profile created" trigger).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from profiles.models import Event, Profile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "event", "consent", "message", "journey" ...
    title: str
    detail: str = ""
    channel: str = ""
    url: str = ""
    data: dict[str, Any] = field(default_factory=dict)


EventListener = Callable[["Event"], None]
TimelineSource = Callable[["Profile", int], Iterable[TimelineEntry]]
MergeHandler = Callable[["Profile", "Profile"], None]

event_listeners: list[EventListener] = []
timeline_sources: dict[str, TimelineSource] = {}
merge_handlers: list[MergeHandler] = []
profile_listeners: list[Callable[["Profile"], None]] = []


def register_event_listener(listener: EventListener) -> EventListener:
    if listener not in event_listeners:
        event_listeners.append(listener)
    return listener


def register_timeline_source(name: str, source: TimelineSource) -> None:
    timeline_sources[name] = source


def register_merge_handler(handler: MergeHandler) -> MergeHandler:
    if handler not in merge_handlers:
        merge_handlers.append(handler)
    return handler


def register_profile_listener(listener: Callable[["Profile"], None]) -> None:
    if listener not in profile_listeners:
        profile_listeners.append(listener)


def announce_profile_created(profile: "Profile") -> None:
    _tell(profile_listeners, profile, "profile")


def announce_event(event: "Event") -> None:
    _tell(event_listeners, event, "event")


def _tell(listeners: list, row, what: str) -> None:
    """Call every listener; one failing listener neither stops the others nor the caller."""
    for listener in list(listeners):
        try:
            listener(row)
        except Exception:  # a listener's bug must not lose the row for the others
            logger.exception("%s listener %r failed on %s %s", what, listener, what, row.pk)


def timeline_for(profile: "Profile", *, limit: int = 100) -> list[TimelineEntry]:
    """Every registered source's rows for a profile, newest first, at most `limit`."""
    entries: list[TimelineEntry] = []
    for source in timeline_sources.values():
        entries.extend(source(profile, limit))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]
