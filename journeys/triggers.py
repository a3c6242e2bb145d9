"""What a stored Event does to journeys: end enrollments at their goal, wake waits, enrol.

Registered as a profiles event listener, so it runs after the event's transaction commits.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from compliance.services import SUBSCRIBED_EVENT
from journeys import routing
from journeys.engagement import ALL_ENGAGEMENT_EVENTS
from journeys.models import Enrollment, EnrollmentStatus, Journey, JourneyStatus, TriggerType
from journeys.services import enrollment_create, enrollments_exit
from profiles.models import Event, EventSource

logger = logging.getLogger(__name__)


def on_event(event: Event) -> list[int]:
    """Goals first (an order ends the cart flow before anything else happens), then wake-ups
    and entries. Returns the enrollments to run now, and queues that run."""
    now, wanted = timezone.now(), routing.index()
    if event.name in wanted.goals:
        reach_goals(event, now)
    touched = wake(event, now)
    if event.name in wanted.triggers or (
        event.name == SUBSCRIBED_EVENT and TriggerType.SUBSCRIBED in wanted.trigger_types
    ):
        touched += enter(event, now)
    if touched:
        run_soon(touched)
    return touched


def reach_goals(event: Event, now) -> int:
    active = Enrollment.objects.filter(
        profile_id=event.profile_id, status=EnrollmentStatus.ACTIVE
    ).select_related("journey")
    ids = [e.pk for e in active if event.name in (e.journey.goal_events or [])]
    if not ids:
        return 0
    return enrollments_exit(enrollments=Enrollment.objects.filter(pk__in=ids),
                            outcome="converted", reason=f"goal: {event.name}", now=now)  # fmt: skip


def wake(event: Event, now) -> list[int]:
    """An open, click or reply wakes the enrollments waiting on it and cancels escalations."""
    if event.name not in ALL_ENGAGEMENT_EVENTS:
        return []
    woken = []
    active = Enrollment.objects.filter(
        profile_id=event.profile_id, status=EnrollmentStatus.ACTIVE
    ).select_related("version")
    message_id = (event.properties or {}).get("message_id")
    for enrollment in active:
        messages = enrollment.state.get("messages", {})
        steps = [k for k, m in messages.items() if m["id"] == message_id or
                 (message_id is None and m["channel"] == event.channel == "sms")]  # fmt: skip
        if not steps:
            continue
        from journeys import sending

        for step in steps:
            sending.cancel_escalations(enrollment=enrollment, engaged_step=step,
                                       graph=enrollment.version.graph)  # fmt: skip
        current = enrollment.version.graph["steps"].get(enrollment.current_step, {})
        if current.get("type") in ("wait_for_engagement", "send_sms", "send_email"):
            Enrollment.objects.filter(pk=enrollment.pk, status=EnrollmentStatus.ACTIVE).update(
                next_run_at=now
            )
            woken.append(enrollment.pk)
    return woken


def enter(event: Event, now) -> list[int]:
    """Enrol the person in each active journey this event triggers."""
    if event.source == EventSource.IMPORT and not (event.properties or {}).get("enrol_journeys"):
        return []  # imported history does not start flows unless the import says so
    wanted = Q(trigger_type=TriggerType.EVENT, trigger_event=event.name)
    if event.name == SUBSCRIBED_EVENT:
        wanted |= Q(trigger_type=TriggerType.SUBSCRIBED)
    journeys = Journey.objects.filter(wanted, status=JourneyStatus.ACTIVE)
    entered = []
    for journey in journeys:
        if not matches(journey, event):
            continue
        context = {"trigger": event.name, "event_id": event.pk, "properties": event.properties}
        enrollment = enrollment_create(journey=journey, profile=event.profile, context=context,
                                       now=now)  # fmt: skip
        if enrollment is not None:
            entered.append(enrollment.pk)
    return entered


def matches(journey: Journey, event: Event) -> bool:
    properties = event.properties or {}
    if any(str(properties.get(k)) != str(v) for k, v in (journey.trigger_filters or {}).items()):
        return False
    settings = journey.trigger_settings or {}
    min_count, min_total = settings.get("min_count"), settings.get("min_value_total")
    if not (min_count or min_total):
        return True
    totals = Event.objects.filter(profile_id=event.profile_id, name=event.name).aggregate(
        count=Count("id"), total=Sum("value")
    )
    # Either threshold suffices (VIP: the 5th order or a lifetime value of 500).
    return bool(
        (min_count and totals["count"] >= int(min_count))
        or (min_total and (totals["total"] or Decimal(0)) >= Decimal(str(min_total)))
    )


def run_soon(ids: list[int]) -> None:
    from django_q.tasks import async_task

    try:
        async_task("journeys.tasks.run_enrollments", ids, task_name="journeys-run")
    except Exception:  # the broker is down: the next tick (every minute) runs them anyway
        logger.exception("could not queue an immediate run for %s", ids)


def on_profile_created(profile) -> None:
    """Enrol a new person in each active journey with the 'profile created' trigger."""
    if TriggerType.PROFILE_CREATED not in routing.index().trigger_types:
        return
    journeys = Journey.objects.filter(status=JourneyStatus.ACTIVE,
                                      trigger_type=TriggerType.PROFILE_CREATED)  # fmt: skip
    touched = [
        enrollment.pk
        for journey in journeys
        if (enrollment := enrollment_create(journey=journey, profile=profile,
                                            context={"trigger": "profile created"}))
    ]  # fmt: skip
    if touched:
        run_soon(touched)
