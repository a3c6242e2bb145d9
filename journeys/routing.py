"""Which event names journeys care about, kept a few seconds per process.

Every stored event reaches journeys (profiles announces each one after commit), and most
events (page views, product views) concern no journey: this index lets the listener skip
them without a query. It is rebuilt every INDEX_SECONDS, and at once in this process when
a journey is activated, paused, archived or saved; another process sees a change within
INDEX_SECONDS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from journeys.models import Journey, JourneyStatus, TriggerType

INDEX_SECONDS = 5.0


@dataclass(frozen=True)
class Index:
    goals: frozenset[str]  # goal events of journeys people may still be in
    triggers: frozenset[str]  # event names that start an active journey
    trigger_types: frozenset[str]  # trigger types of the active journeys


_built: tuple[float, Index] | None = None


def index() -> Index:
    global _built
    now = time.monotonic()
    if _built is None or now - _built[0] > INDEX_SECONDS:
        _built = (now, _build())
    return _built[1]


def forget() -> None:
    """Rebuild on the next event (a journey's status, trigger or goals changed)."""
    global _built
    _built = None


def _build() -> Index:
    rows = Journey.objects.filter(
        status__in=[JourneyStatus.ACTIVE, JourneyStatus.PAUSED]
    ).values_list("status", "trigger_type", "trigger_event", "goal_events")
    goals, triggers, types = set(), set(), set()
    for status, trigger_type, trigger_event, goal_events in rows:
        goals.update(goal_events or [])
        if status == JourneyStatus.ACTIVE:
            types.add(trigger_type)
            if trigger_type == TriggerType.EVENT and trigger_event:
                triggers.add(trigger_event)
    return Index(frozenset(goals), frozenset(triggers), frozenset(types))
