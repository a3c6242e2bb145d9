"""The engine: claim due enrollments in batches, run each until it must wait, store that.

A claim is a lease (token + expiry) written in one short transaction; on PostgreSQL the
candidates are locked with SKIP LOCKED, so any number of clusters tick at once without
double work; on SQLite the IMMEDIATE transaction serialises claims. A worker killed
mid-batch leaves leases that expire, and the next tick re-runs those enrollments from
their last saved step: sends find their message by idempotency key, so nothing is sent
twice and nothing is lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from journeys import graph as graphs
from journeys import writes
from journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
)
from journeys.steps import Context, Result, registry
from journeys.writes import LogRow

if TYPE_CHECKING:
    from journeys.sending import Request

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # default; JOURNEYS_LEASE_SECONDS overrides
# Statements per batch are fixed, so bigger is cheaper per person: at 500 they cost ~0.06
# statements an enrollment and a batch still ends in seconds, well inside its lease.
BATCH_SIZE = 500
MAX_STEPS_PER_RUN = 50  # validation forbids loops without a wait; this is the safety net
ACTIVE = EnrollmentStatus.ACTIVE
TERMINAL = {"exited": EnrollmentStatus.EXITED, "completed": EnrollmentStatus.COMPLETED,
            "failed": EnrollmentStatus.FAILED}  # fmt: skip


@dataclass
class TickReport:
    enrollments: int = 0
    steps: int = 0
    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    # Spent inside channels' dispatch (CPU of this process, and wall clock): the split the
    # benchmark reports between the engine's own work and sending.
    dispatch_cpu: float = 0.0
    dispatch_wall: float = 0.0


def tick(*, batch_size: int = BATCH_SIZE, time_budget: float = 50.0, now=None) -> TickReport:
    """Run every due enrollment (in batches) until none is due or the time budget is spent."""
    report, started = TickReport(), time.monotonic()
    while time.monotonic() - started < time_budget:
        batch = claim(limit=batch_size, now=now)
        if not batch:
            break
        report.batches += 1
        run_batch(batch, report, now=now)
    return report


def run_ids(ids: list[int], *, now=None) -> TickReport:
    """Run these enrollments now if due (an event just touched them)."""
    report = TickReport()
    batch = claim(limit=len(ids), now=now, ids=ids)
    run_batch(batch, report, now=now)
    return report


def claim(*, limit: int, now=None, ids: list[int] | None = None) -> list[Enrollment]:
    now = now or timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        due = Enrollment.objects.filter(
            status=EnrollmentStatus.ACTIVE,
            next_run_at__lte=now,
            journey__status=JourneyStatus.ACTIVE,
        ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        if ids is not None:
            due = due.filter(pk__in=ids)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        picked = list(due.order_by("next_run_at").values_list("pk", flat=True)[:limit])
        lease_until = now + lease(len(picked))
        Enrollment.objects.filter(pk__in=picked).update(lease_token=token, lease_until=lease_until)
    batch = list(
        Enrollment.objects.filter(pk__in=picked, lease_token=token).select_related("profile")
    )
    # The journeys and versions once per batch, not joined into every row (a graph each).
    journeys = Journey.objects.in_bulk({e.journey_id for e in batch})
    versions = JourneyVersion.objects.in_bulk({e.version_id for e in batch})
    for enrollment in batch:
        enrollment.journey = journeys[enrollment.journey_id]
        enrollment.version = versions[enrollment.version_id]
    return batch


def lease(size: int = 0) -> timedelta:
    """How long a claim holds: longer than a batch can take, short enough to recover fast.

    A batch's sends go out in one dispatch, paced by the SMS sender's rate limit (1 a second
    on a long code): a batch of `size` texts can take size / rate seconds, so the lease
    covers that too, or a second tick would run the same enrollments while they send.
    """
    seconds = getattr(settings, "JOURNEYS_LEASE_SECONDS", None)
    configured = timedelta(seconds=seconds) if seconds else LEASE
    from channels.adapters import adapter_for  # channels loads after the step registry

    rate = adapter_for("sms").rate_per_second()
    if not size or rate <= 0:
        return configured
    return max(configured, timedelta(seconds=size / rate + 60))


def run_batch(batch: list[Enrollment], report: TickReport, *, now=None) -> None:
    """Advance every enrollment; the messages they need are queued in one statement and the
    due ones sent in one dispatch per pass, then those enrollments run on from their send
    step (a deferral makes them wait). The batch's positions are saved in one statement."""
    logs: list[LogRow] = []
    parsed: dict[int, dict] = {}  # versions never change: parse each once per batch
    todo, known, done = list(batch), {}, []
    for _ in range(MAX_STEPS_PER_RUN):
        asks: list[tuple[Enrollment, Request]] = []
        for enrollment in todo:
            try:
                version = enrollment.version
                steps = parsed.get(version.pk) or parsed.setdefault(
                    version.pk, graphs.specs(version)
                )
                request = advance(enrollment, steps, now=now or timezone.now(), report=report,
                                  logs=logs, dispatched=known)  # fmt: skip
            except Exception:  # one person's broken step must not stop the batch
                logger.exception("enrollment %s failed at %s", enrollment.pk,
                                 enrollment.current_step)  # fmt: skip
                _fail(enrollment, logs)
                request = None
            if request is None:
                done.append(enrollment)
            else:
                asks.append((enrollment, request))
        if not asks:
            break
        known = {**known, **_queue(asks, logs, report, now=now or timezone.now())}
        todo = [enrollment for enrollment, _ in asks if enrollment.status == ACTIVE]
        done += [enrollment for enrollment, _ in asks if enrollment.status != ACTIVE]
    report.enrollments += len(batch)
    writes.positions_save(done)
    writes.logs_insert(logs)


def _queue(asks: list, logs: list[LogRow], report: TickReport, *, now: datetime) -> dict:
    """The asked messages queued (one statement), the due ones dispatched: rows by id."""
    from journeys import sending  # channels loads after the step registry

    try:
        rows = sending.queue_many(asks)
    except Exception:  # find the one that cannot be queued; the others go on
        logger.exception("queueing %s journey messages at once failed", len(asks))
        rows = {}
        for enrollment, request in asks:
            try:
                rows.update(sending.queue_many([(enrollment, request)]))
            except Exception:
                logger.exception("enrollment %s failed at %s", enrollment.pk, request.step)
                _fail(enrollment, logs)
    due = [pk for pk, message in rows.items() if sending.is_due(message, now)]
    cpu, wall = time.process_time(), time.perf_counter()
    rows.update(_dispatch(due) if due else {})
    report.dispatch_cpu += time.process_time() - cpu
    report.dispatch_wall += time.perf_counter() - wall
    return rows


def _dispatch(ids: list[int]) -> dict:
    from channels.models import Message
    from journeys import sending  # channels loads after the step registry

    try:
        return sending.dispatch_batch(ids)
    except Exception:  # the messages stay queued; their steps wait and retry
        logger.exception("dispatching %s journey messages failed", len(ids))
        return Message.objects.in_bulk(ids)


def advance(
    enrollment: Enrollment,
    steps: dict,
    *,
    now: datetime,
    report: TickReport,
    logs: list[LogRow],
    dispatched: dict | None = None,
) -> Request | None:
    """Run steps until one waits or the enrollment ends (the caller saves it); or stop at a
    send whose message the engine must queue first (returns that Request)."""
    for _ in range(MAX_STEPS_PER_RUN):
        spec = steps[enrollment.current_step]
        ctx = Context(enrollment, enrollment.journey, enrollment.profile, spec, now,
                      dispatched=dispatched or {})  # fmt: skip
        result = registry[spec.type].run(ctx)
        if result.action == "queue":
            return result.request
        report.steps += 1
        report.outcomes[result.outcome] = report.outcomes.get(result.outcome, 0) + 1
        if not (result.action == "wait" and enrollment.state.get("waiting") == spec.key):
            logs.append(_log(enrollment, spec.key, result, now))
        if not _apply(enrollment, result, now):
            break
    else:
        _end(enrollment, "failed", "too many steps in one run", now)
    return None


def _apply(enrollment: Enrollment, result: Result, now: datetime) -> bool:
    """Move the enrollment on; True when the next step should run now."""
    if result.action == "wait":
        enrollment.next_run_at = result.until
        enrollment.state["waiting"] = enrollment.current_step
        return False
    enrollment.state.pop("waiting", None)
    if result.action == "end":
        _end(enrollment, result.outcome, result.reason, now)
        return False
    if not result.next:
        _end(enrollment, "completed", "reached the end", now)
        return False
    enrollment.current_step = result.next
    enrollment.step_started_at = now
    enrollment.steps_taken += 1
    return True


def _end(enrollment: Enrollment, outcome: str, reason: str, now: datetime) -> None:
    enrollment.status = TERMINAL.get(outcome, EnrollmentStatus.EXITED)
    enrollment.exit_reason = reason[:100]
    enrollment.exited_at = now
    enrollment.next_run_at = None


def _fail(enrollment: Enrollment, logs: list[LogRow]) -> None:
    now = timezone.now()
    _end(enrollment, "failed", f"error at {enrollment.current_step}", now)
    logs.append(LogRow(enrollment.pk, enrollment.journey_id, enrollment.current_step, "failed",
                       "an error; see the logs", now))  # fmt: skip


def _log(enrollment: Enrollment, step: str, result: Result, now: datetime) -> LogRow:
    return LogRow(enrollment.pk, enrollment.journey_id, step, result.outcome,
                  result.reason[:200], now)  # fmt: skip
