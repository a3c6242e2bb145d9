"""What would happen to a person in a journey, and why, without changing anything."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from journeys import graph as graphs
from journeys.models import Enrollment, Journey
from journeys.steps import Context, registry
from profiles.models import Profile

MAX_STEPS = 40


@dataclass(frozen=True)
class DryStep:
    key: str
    description: str
    outcome: str
    reason: str


def dry_run(*, journey: Journey, profile: Profile) -> list[DryStep]:
    """Walk the draft from the entry as the person would now; waits are assumed to pass and
    engagement waits to time out unless the person already engaged."""
    graph = graphs.build(journey)
    enrollment = Enrollment(journey=journey, profile=profile, current_step=graph["entry"],
                            step_started_at=timezone.now(), state={})  # fmt: skip
    walked, key = [], graph["entry"]
    with transaction.atomic():
        for _ in range(MAX_STEPS):
            spec = graphs.spec_of(graph, key)
            step_type = registry[spec.type]
            ctx = Context(enrollment, journey, profile, spec, timezone.now(), dry_run=True)
            result = step_type.run(ctx)
            walked.append(DryStep(key, step_type.describe(spec), result.outcome, result.reason))
            if result.action == "wait":
                key = spec.next or spec.no  # assume the wait passes / times out
            elif result.action == "end":
                break
            else:
                key = result.next
            if not key or key in [w.key for w in walked[-3:]] and len(walked) > 20:
                break
        transaction.set_rollback(True)  # nothing a step touched survives
    return walked
