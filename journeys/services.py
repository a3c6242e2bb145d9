"""Journey operations the admin, triggers, commands and tasks call."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from journeys import graph as graphs
from journeys import routing
from journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    ReEntry,
    StepLog,
)
from profiles.models import Profile


def journey_publish(*, journey: Journey, user=None) -> JourneyVersion:
    """Freeze the draft as a new version, unless it equals the live one.

    People already in the journey finish on the version they entered; newcomers get this.
    """
    graph = graphs.build(journey)
    live = journey.live_version
    if live is not None and live.graph == graph:
        return live
    number = (live.number if live else 0) + 1
    return JourneyVersion.objects.create(journey=journey, number=number, graph=graph,
                                         created_by=user)  # fmt: skip


def journey_activate(*, journey: Journey, user=None) -> JourneyVersion:
    version = journey_publish(journey=journey, user=user)
    journey.status = JourneyStatus.ACTIVE
    journey.save(update_fields=["status", "updated_at"])
    routing.forget()
    return version


def journey_pause(*, journey: Journey) -> None:
    """Nobody enters and nobody moves on; people resume where they were on activation."""
    journey.status = JourneyStatus.PAUSED
    journey.save(update_fields=["status", "updated_at"])
    routing.forget()


def journey_archive(*, journey: Journey) -> int:
    """Stop the journey for good: everyone still in it exits. Returns how many."""
    journey.status = JourneyStatus.ARCHIVED
    journey.save(update_fields=["status", "updated_at"])
    routing.forget()
    return enrollments_exit(
        enrollments=journey.enrollments.filter(status=EnrollmentStatus.ACTIVE),
        outcome="exited",
        reason="journey archived",
    )


def enrollment_create(
    *, journey: Journey, profile: Profile, context: dict | None = None, now=None
) -> Enrollment | None:
    """Enter the person if the journey is active and its re-entry rule allows; else None."""
    now = now or timezone.now()
    version = journey.live_version
    if journey.status != JourneyStatus.ACTIVE or version is None:
        return None
    if not _may_enter(journey, profile, now):
        return None
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                journey=journey, version=version, profile=profile,
                current_step=version.graph["entry"], step_started_at=now, next_run_at=now,
                context=context or {}, entered_at=now,
            )  # fmt: skip
    except IntegrityError:  # already in it (the one-active constraint)
        return None
    StepLog.objects.create(enrollment=enrollment, journey=journey, step=enrollment.current_step,
                           outcome="entered", reason=context.get("trigger", "") if context else "",
                           at=now)  # fmt: skip
    return enrollment


def _may_enter(journey: Journey, profile: Profile, now) -> bool:
    past = Enrollment.objects.filter(journey=journey, profile=profile)
    if journey.reentry == ReEntry.ONCE:
        return not past.exists()
    if past.filter(status=EnrollmentStatus.ACTIVE).exists():
        return False
    if journey.reentry == ReEntry.PER_DAYS:
        days = journey.reentry_days or 1
        return not past.filter(entered_at__gt=now - timedelta(days=days)).exists()
    return True


def enrollments_exit(*, enrollments, outcome: str, reason: str, now=None) -> int:
    """End these active enrollments and cancel the messages they still have waiting."""
    now = now or timezone.now()
    count = 0
    for enrollment in enrollments.filter(status=EnrollmentStatus.ACTIVE):
        status = EnrollmentStatus.EXITED if outcome != "completed" else EnrollmentStatus.COMPLETED
        ended = Enrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.ACTIVE).update(
            status=status, exit_reason=reason[:100], exited_at=now, next_run_at=None,
            lease_token="", lease_until=None,
        )  # fmt: skip
        if not ended:
            continue
        count += 1
        ids = [m["id"] for m in enrollment.state.get("messages", {}).values()]
        ids += enrollment.state.get("queued", {}).values()  # handed to dispatch, not yet sent
        if ids:
            _cancel_waiting(ids, reason)
        StepLog.objects.create(enrollment=enrollment, journey_id=enrollment.journey_id,
                               step=enrollment.current_step, outcome=outcome, reason=reason,
                               at=now)  # fmt: skip
    return count


def _cancel_waiting(ids: list[int], reason: str) -> None:
    from channels.models import Message, MessageStatus
    from channels.models.outbox import WAITING

    Message.objects.filter(pk__in=ids, status__in=WAITING).update(
        status=MessageStatus.CANCELLED, reason=f"journey_exit:{reason}"[:100]
    )


def journey_validate(*, journey: Journey) -> list[str]:
    """Problems that would stop publishing, as sentences (empty when it can go live)."""
    try:
        graphs.build(journey)
    except ValidationError as error:
        return list(error.messages)
    return []
