"""The engine: claim due enrollments in batches, run each until it must wait, store that.

A claim is a lease (token + expiry) on a batch (journeys.claims: on PostgreSQL one UPDATE
over a SKIP LOCKED pick, so any number of clusters tick at once without double work; on
SQLite an IMMEDIATE transaction serialises claims). A worker killed mid-batch leaves
leases that expire, and the next tick re-runs those enrollments from their last saved
step: sends find their message by idempotency key, so nothing is sent twice and nothing
is lost. A batch costs a fixed handful of statements whatever its size (the claim, the
journeys and versions, one INSERT of its messages per pass, the positions, the step log:
journeys.writes), and its steps run from the loaded rows.

Outbox first (flow processing apart from delivery, as Braze and Customer.io run it): a
tick never sends. A batch's send steps queue their messages in one statement; once the
batch's positions are saved, the due ones go to dispatch in django-q2 tasks of a few
hundred ids (journeys.tasks.dispatch_messages). Meanwhile their steps wait, at most
sending.handoff_wait(); that pass is no journey step (neither logged nor counted). The
task dispatches, then runs on the enrollments whose messages it settled (`resume`) with
the rows it holds: each send step reads its outcome (sent, deferred until T, suppressed
...) and the journey goes on as if it had sent inline, from the message's sent time. A
lost task costs a wait: the next tick hands the message over again, its idempotency key
finds the same row, and dispatch's claim sends it once.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from journeys import claims, writes
from journeys import graph as graphs
from journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyVersion,
)
from journeys.steps import Context, Result, registry
from journeys.writes import LogRow

if TYPE_CHECKING:
    from channels.models import Message

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # default; JOURNEYS_LEASE_SECONDS overrides
# Statements per batch are fixed, so bigger is cheaper per person: at 1,000 they cost ~0.03
# statements an enrollment and a batch ends in well under a second, far inside its lease
# (bench/tick.py, 100,000 enrollments, one worker: 4,950 steps/s at 500, 5,110-5,130 at 1,000).
BATCH_SIZE = 1000
MAX_STEPS_PER_RUN = 50  # validation forbids loops without a wait; this is the safety net
ACTIVE = EnrollmentStatus.ACTIVE
TERMINAL = {"exited": EnrollmentStatus.EXITED, "completed": EnrollmentStatus.COMPLETED,
            "failed": EnrollmentStatus.FAILED}  # fmt: skip


@dataclass
class TickReport:
    enrollments: int = 0
    steps: int = 0  # journey steps taken: what the step log records
    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    handed: int = 0  # messages handed to dispatch tasks (their steps wait: not steps)
    rechecks: int = 0  # a waiting step run again that waits on (woken early): not a step


def tick(*, batch_size: int = BATCH_SIZE, time_budget: float = 50.0, now=None) -> TickReport:
    """Run every due enrollment (in batches) until none is due or the time budget is spent."""
    if _overlap():
        return _tick_overlapped(batch_size, time_budget, now)
    report, started = TickReport(), time.monotonic()
    while time.monotonic() - started < time_budget:
        batch = claim(limit=batch_size, now=now)
        if not batch:
            break
        report.batches += 1
        run_batch(batch, report, now=now)
    return report


def _overlap() -> bool:
    """On PostgreSQL outside a transaction, a tick claims the next batch and saves the last
    one on a second connection while it runs this one (a test's transaction would hide the
    rows from a second connection; SQLite serialises writers anyway)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _tick_overlapped(batch_size: int, time_budget: float, now) -> TickReport:
    """tick() with the database's work overlapping Python's: one helper thread, with its own
    connection, claims batch N+1 and then saves batch N (positions, step log, hand-off, in
    that order as run_batch does) while this thread runs batch N+1's steps and queues its
    messages. Each batch is still claimed (leased) before it runs and saved under its lease
    token; at most three are leased at once (the one saving, the one running, the next).
    A worker killed mid-way leaves leases that expire, as with one batch at a time."""
    report, started = TickReport(), time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="journeys-tick") as helper:
        pending = helper.submit(claim, limit=batch_size, now=now) if time_budget > 0 else None
        saving = None
        try:
            while pending is not None:
                batch = pending.result()
                if not batch:
                    break
                report.batches += 1
                more = time.monotonic() - started < time_budget
                pending = helper.submit(claim, limit=batch_size, now=now) if more else None
                done, logs, due = _run(batch, report, now=now)
                if saving is not None:
                    report.handed += saving.result()
                saving = helper.submit(_save, done, logs, due)
            if saving is not None:
                report.handed += saving.result()
        finally:
            helper.submit(connections.close_all)  # the helper thread's own connection
    return report


def run_ids(ids: list[int], *, now=None) -> TickReport:
    """Run these enrollments now if due (an event just touched them)."""
    report = TickReport()
    batch = claim(limit=len(ids), now=now, ids=ids)
    run_batch(batch, report, now=now)
    return report


def resume(rows: dict[int, Message], *, now=None) -> TickReport:
    """A dispatch task's second half: run on the enrollments whose messages these freshly
    dispatched rows settle, due or not (their steps wait for exactly this); each send step
    reads its message from the rows."""
    from journeys import sending  # channels loads after the step registry

    report = TickReport()
    if ids := sending.settled(rows, now or timezone.now()):
        batch = claim(limit=len(ids), now=now, ids=ids, due=False)
        run_batch(batch, report, now=now, outbox=rows)
    return report


def claim(
    *, limit: int, now=None, ids: list[int] | None = None, due: bool = True
) -> list[Enrollment]:
    """Lease up to `limit` active enrollments not leased by anyone else: the due ones (by
    how long they have been due), or, with due=False, these `ids` due or not."""
    now = now or timezone.now()
    batch = claims.claim_rows(limit=limit, now=now, lease_until=now + lease(), ids=ids,
                              due=due, token=uuid.uuid4().hex)  # fmt: skip
    # The journeys and versions once per batch, not joined into every row (a graph each).
    journeys = Journey.objects.in_bulk({e.journey_id for e in batch})
    versions = JourneyVersion.objects.in_bulk({e.version_id for e in batch})
    journey, version = Enrollment.journey.field, Enrollment.version.field
    for enrollment in batch:
        journey.set_cached_value(enrollment, journeys[enrollment.journey_id])
        version.set_cached_value(enrollment, versions[enrollment.version_id])
    return batch


def lease() -> timedelta:
    """How long a claim holds: longer than a batch can take, short enough to recover fast.
    A batch sends nothing (dispatch runs in its own tasks), so no sender's pace stretches it."""
    seconds = getattr(settings, "JOURNEYS_LEASE_SECONDS", None)
    return timedelta(seconds=seconds) if seconds else LEASE


def run_batch(
    batch: list[Enrollment], report: TickReport, *, now=None, outbox: dict | None = None
) -> None:
    """Advance every enrollment; the messages they need are queued in one statement per
    pass and those enrollments run on from their send step. The batch's positions are saved
    in one statement, then its due messages are handed to dispatch (so a task that runs at
    once finds their enrollments saved and free)."""
    done, logs, due = _run(batch, report, now=now, outbox=outbox)
    report.handed += _save(done, logs, due)


def _run(
    batch: list[Enrollment], report: TickReport, *, now=None, outbox: dict | None = None
) -> tuple[list[Enrollment], list[LogRow], list[Message]]:
    """run_batch's first half: the steps, with the messages queued (one statement a pass).
    Returns the enrollments to save, their step log and the messages due for dispatch."""
    from journeys import sending  # channels loads after the step registry

    logs: list[LogRow] = []
    parsed: dict[int, dict] = {}  # versions never change: parse each once per batch
    todo, known, done, due = list(batch), dict(outbox or {}), [], []
    for _ in range(MAX_STEPS_PER_RUN):
        asks: list[tuple[Enrollment, sending.Request]] = []
        # One time for the pass (no step waits on I/O; a pass takes well under a second):
        # a clock read an enrollment was ~2% of the tick's CPU, and rows that share their
        # times format each once in the batch's documents (journeys.writes).
        at = now or timezone.now()
        for enrollment in todo:
            stop = _advance_safely(enrollment, parsed, report, logs, known, at)
            if stop is not None and stop.action == "queue":
                asks.append((enrollment, stop.request))
                continue
            done.append(enrollment)
            if stop is not None:
                due.append(known[stop.message_id])
        if not asks:
            break
        known.update(_queue(asks, logs))
        todo = [enrollment for enrollment, _ in asks if enrollment.status == ACTIVE]
        done += [enrollment for enrollment, _ in asks if enrollment.status != ACTIVE]
    report.enrollments += len(batch)
    return done, logs, due


def _save(done: list[Enrollment], logs: list[LogRow], due: list[Message]) -> int:
    """run_batch's second half: the positions, the step log, then the due messages handed to
    dispatch (a task that runs at once finds their enrollments saved and free). Returns how
    many were handed."""
    from journeys import sending  # channels loads after the step registry

    writes.positions_save(done)
    writes.logs_insert(logs)
    return sending.hand_off(due) if due else 0


def _advance_safely(enrollment, parsed, report, logs, known, now) -> Result | None:
    try:
        version = enrollment.version
        steps = parsed.get(version.pk) or parsed.setdefault(version.pk, graphs.specs(version))
        return advance(enrollment, steps, now=now or timezone.now(), report=report, logs=logs,
                       outbox=known)  # fmt: skip
    except Exception:  # one person's broken step must not stop the batch
        logger.exception("enrollment %s failed at %s", enrollment.pk, enrollment.current_step)
        _fail(enrollment, logs)
        return None


def _queue(asks: list, logs: list[LogRow]) -> dict:
    """The asked messages queued (one statement): rows by id."""
    from journeys import sending  # channels loads after the step registry

    try:
        return sending.queue_many(asks)
    except Exception:  # find the one that cannot be queued; the others go on
        logger.exception("queueing %s journey messages at once failed", len(asks))
    rows = {}
    for enrollment, request in asks:
        try:
            rows.update(sending.queue_many([(enrollment, request)]))
        except Exception:
            logger.exception("enrollment %s failed at %s", enrollment.pk, request.step)
            _fail(enrollment, logs)
    return rows


def advance(
    enrollment: Enrollment,
    steps: dict,
    *,
    now: datetime,
    report: TickReport,
    logs: list[LogRow],
    outbox: dict | None = None,
) -> Result | None:
    """Run steps until one waits or the enrollment ends (the caller saves it); or stop at a
    send whose message the engine must queue first ("queue") or hand to dispatch
    ("dispatch": the enrollment waits for it, at most until the result's `until`)."""
    journey, profile, outbox = enrollment.journey, enrollment.profile, outbox or {}
    for _ in range(MAX_STEPS_PER_RUN):
        spec = steps[enrollment.current_step]
        ctx = Context(enrollment, journey, profile, spec, now, outbox=outbox)
        result = registry[spec.type].run(ctx)
        if result.action == "queue":
            return result
        if result.action == "dispatch":
            enrollment.next_run_at = result.until
            return result
        if result.action == "wait" and enrollment.state.get("waiting") == spec.key:
            report.rechecks += 1  # woken before its time, it waits on: no step, no log
        else:
            report.steps += 1
            report.outcomes[result.outcome] = report.outcomes.get(result.outcome, 0) + 1
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
