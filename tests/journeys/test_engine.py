"""The engine with routing steps: waits, branches, splits, channel choice, versions, leases."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance.models import ConsentAction, ConsentSource, ContactPreference
from compliance.services import consent_record
from journeys import engine
from journeys.models import Enrollment, EnrollmentStatus, StepLog
from journeys.services import enrollment_create, journey_publish
from profiles.models import Event
from tests.factories import ProfileFactory
from tests.journeys.conftest import START, make_journey

pytestmark = pytest.mark.django_db


def enter(journey, profile=None, **context):
    profile = profile or ProfileFactory()
    enrollment = enrollment_create(journey=journey, profile=profile, context=context)
    assert enrollment is not None
    return enrollment


def path(enrollment):
    return [(log.step, log.outcome) for log in StepLog.objects.filter(enrollment=enrollment)]


def refresh(enrollment):
    enrollment.refresh_from_db()
    return enrollment


def test_a_wait_holds_the_person_until_the_duration_is_over(at_start):
    journey = make_journey([
        {"key": "pause", "type": "wait", "settings": {"hours": 4}, "next": "tag"},
        {"key": "tag", "type": "update_profile", "settings": {"traits": {"seen": "yes"}}},
    ])  # fmt: skip
    enrollment = enter(journey)
    engine.tick()
    assert refresh(enrollment).next_run_at == START + timedelta(hours=4)
    at_start.move_to(START + timedelta(hours=3, minutes=59))
    engine.tick()
    assert refresh(enrollment).current_step == "pause"
    at_start.move_to(START + timedelta(hours=4))
    engine.tick()
    enrollment = refresh(enrollment)
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert enrollment.profile.traits["seen"] == "yes"
    assert path(enrollment) == [("pause", "entered"), ("pause", "waiting"), ("pause", "waited"),
                                ("tag", "updated")]  # fmt: skip


def test_wait_until_a_local_time_follows_the_person_zone_across_dst(at_start):
    # Saturday 1 Nov 2025, 22:00 New York (EDT); DST ends at 02:00 on Sunday.
    at_start.move_to(datetime(2025, 11, 2, 2, 0, tzinfo=UTC))
    journey = make_journey([
        {"key": "morning", "type": "wait", "settings": {"until_time": "09:00"}},
    ])  # fmt: skip
    enrollment = enter(journey, ProfileFactory(time_zone="America/New_York"))
    engine.tick()
    assert refresh(enrollment).next_run_at == datetime(2025, 11, 2, 14, 0, tzinfo=UTC)  # 09:00 EST


def test_wait_until_a_weekday(at_start):
    settings = {"weekday": "friday", "until_time": "10:00"}
    journey = make_journey([{"key": "friday", "type": "wait", "settings": settings}])
    enrollment = enter(journey, ProfileFactory(time_zone="America/New_York"))
    engine.tick()
    assert refresh(enrollment).next_run_at == datetime(2025, 6, 13, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(("vip", "expected"), [("gold", "yes-path"), ("silver", "no-path")])
def test_branch_on_a_trait(at_start, vip, expected):
    journey = make_journey([
        {"key": "check", "type": "branch", "yes": "yes-path", "no": "no-path",
         "settings": {"kind": "trait", "trait": "tier", "op": "eq", "value": "gold"}},
        {"key": "yes-path", "type": "exit", "settings": {"reason": "gold"}},
        {"key": "no-path", "type": "exit", "settings": {"reason": "not gold"}},
    ])  # fmt: skip
    enrollment = enter(journey, ProfileFactory(traits={"tier": vip}))
    engine.tick()
    assert path(refresh(enrollment))[-1] == (expected, "exited")


def test_branch_on_an_event_within_days(at_start):
    profile = ProfileFactory()
    Event.objects.create(profile=profile, name="Order Completed", source="api",
                         occurred_at=START - timedelta(days=3))  # fmt: skip
    journey = make_journey([
        {"key": "bought", "type": "branch", "yes": "done", "no": "nudge",
         "settings": {"kind": "event", "event": "Order Completed", "within_days": 7}},
        {"key": "done", "type": "exit"},
        {"key": "nudge", "type": "exit"},
    ])  # fmt: skip
    enrollment = enter(journey, profile)
    engine.tick()
    assert path(enrollment)[-1][0] == "done"


def test_branch_on_consent(at_start):
    profile = ProfileFactory()
    consent_record(profile=profile, channel="sms", action=ConsentAction.OPT_IN,
                   source=ConsentSource.SIGNUP_FORM)  # fmt: skip
    journey = make_journey([
        {"key": "sms-ok", "type": "branch", "yes": "a", "no": "b",
         "settings": {"kind": "consent", "channel": "sms", "status": "subscribed"}},
        {"key": "a", "type": "exit"},
        {"key": "b", "type": "exit"},
    ])  # fmt: skip
    enrollment = enter(journey, profile)
    engine.tick()
    assert path(enrollment)[-1][0] == "a"


def test_split_is_stable_per_person_and_follows_the_weights(at_start):
    journey = make_journey([
        {"key": "ab", "type": "split", "settings": {"weights": {"a": 80, "b": 20}}},
        {"key": "a", "type": "exit"},
        {"key": "b", "type": "exit"},
    ], reentry="always")  # fmt: skip
    people = [ProfileFactory() for _ in range(200)]
    first = {}
    for profile in people:
        enter(journey, profile)
    engine.tick()
    for log in StepLog.objects.filter(outcome="exited"):
        first[log.enrollment.profile_id] = log.step
    for profile in people:
        enter(journey, profile)
    engine.tick()
    later = {}
    for log in StepLog.objects.filter(outcome="exited").order_by("id")[200:]:
        later[log.enrollment.profile_id] = log.step
    assert first == later
    share_a = sum(1 for step in first.values() if step == "a") / len(first)
    assert 0.7 < share_a < 0.9


def choose(profile):
    journey = make_journey([
        {"key": "pick", "type": "choose_channel", "settings": {"default": "email"},
         "yes": "email", "no": "sms", "next": "none"},
        {"key": "email", "type": "exit"}, {"key": "sms", "type": "exit"},
        {"key": "none", "type": "exit"},
    ], name=f"choose {profile.pk}")  # fmt: skip
    enrollment = enter(journey, profile)
    engine.tick()
    return path(enrollment)[-1][0]


def subscribe(profile, *channels):
    for channel in channels:
        consent_record(profile=profile, channel=channel, action=ConsentAction.OPT_IN,
                       source=ConsentSource.SIGNUP_FORM)  # fmt: skip


def test_choose_channel_takes_the_primary_channel_first(at_start):
    profile = ProfileFactory()
    subscribe(profile, "email", "sms")
    ContactPreference.objects.create(profile=profile, primary_channel="sms")
    assert choose(profile) == "sms"


def test_choose_channel_then_the_latest_engagement(at_start):
    profile = ProfileFactory()
    subscribe(profile, "email", "sms")
    Event.objects.create(profile=profile, name="clicked", channel="sms", source="webhook",
                         occurred_at=START - timedelta(days=2))  # fmt: skip
    assert choose(profile) == "sms"


def test_choose_channel_then_the_default_and_only_consented_channels(at_start):
    both, sms_only, nobody = ProfileFactory(), ProfileFactory(), ProfileFactory()
    subscribe(both, "email", "sms")
    subscribe(sms_only, "sms")
    assert choose(both) == "email"
    assert choose(sms_only) == "sms"
    assert choose(nobody) == "none"


def test_update_profile_and_exit_steps(at_start):
    journey = make_journey([
        {"key": "tag", "type": "update_profile", "settings": {"traits": {"vip": True}},
         "next": "out"},
        {"key": "out", "type": "exit", "settings": {"reason": "tagged"}},
    ])  # fmt: skip
    enrollment = refresh(enter(journey))
    engine.tick()
    enrollment = refresh(enrollment)
    assert (enrollment.status, enrollment.exit_reason) == (EnrollmentStatus.EXITED, "tagged")
    assert enrollment.profile.traits["vip"] is True


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([{"key": "a", "type": "wait", "settings": {"hours": 1}, "next": "nowhere"}],
         "leads to 'nowhere'"),
        ([{"key": "a", "type": "exit"}, {"key": "b", "type": "exit"}], "b: cannot be reached"),
        ([{"key": "a", "type": "branch", "yes": "a2",
           "settings": {"kind": "trait", "trait": "x", "op": "exists"}},
          {"key": "a2", "type": "exit"}], "needs a 'no' step"),
        ([{"key": "a", "type": "update_profile", "settings": {"traits": {"x": 1}}, "next": "b"},
          {"key": "b", "type": "update_profile", "settings": {"traits": {"y": 1}}, "next": "a"}],
         "a loop without a wait"),
        ([{"key": "a", "type": "wait", "settings": {}}], "Give a duration"),
    ],
)  # fmt: skip
def test_publishing_refuses_a_broken_journey(steps, problem):
    journey = make_journey(steps, activate=False)
    with pytest.raises(ValidationError) as error:
        journey_publish(journey=journey)
    assert problem in " ".join(error.value.messages)


def test_a_loop_through_a_wait_is_fine():
    journey = make_journey([
        {"key": "a", "type": "wait", "settings": {"days": 1}, "next": "b"},
        {"key": "b", "type": "update_profile", "settings": {"traits": {"y": 1}}, "next": "a"},
    ], activate=False)  # fmt: skip
    assert journey_publish(journey=journey).number == 1


def test_people_in_flight_finish_on_the_version_they_entered(at_start):
    journey = make_journey([
        {"key": "pause", "type": "wait", "settings": {"days": 1}, "next": "old-end"},
        {"key": "old-end", "type": "exit", "settings": {"reason": "v1"}},
    ])  # fmt: skip
    early = enter(journey)
    engine.tick()
    journey.steps.filter(key="old-end").update(key="new-end", settings={"reason": "v2"})
    journey.steps.filter(key="pause").update(next_step="new-end")
    v2 = journey_publish(journey=journey)
    assert v2.number == 2
    late = enter(journey)
    at_start.move_to(START + timedelta(days=1))
    engine.tick()
    assert refresh(early).exit_reason == "v1"
    assert refresh(late).exit_reason == "v2"
    assert journey_publish(journey=journey) == v2  # nothing changed: no new version


@pytest.mark.parametrize(
    ("reentry", "days", "second_entry_after", "enters_again"),
    [("once", None, timedelta(days=30), False), ("per_days", 7, timedelta(days=3), False),
     ("per_days", 7, timedelta(days=8), True), ("always", None, timedelta(0), True)],
)  # fmt: skip
def test_reentry_rules(at_start, reentry, days, second_entry_after, enters_again):
    journey = make_journey([{"key": "out", "type": "exit"}], reentry=reentry, reentry_days=days)
    profile = ProfileFactory()
    enter(journey, profile)
    engine.tick()
    at_start.move_to(START + second_entry_after)
    again = enrollment_create(journey=journey, profile=profile)
    assert (again is not None) == enters_again


def test_never_two_active_enrollments_in_one_journey(at_start):
    journey = make_journey([{"key": "w", "type": "wait", "settings": {"days": 1}}],
                           reentry="always")  # fmt: skip
    profile = ProfileFactory()
    enter(journey, profile)
    assert enrollment_create(journey=journey, profile=profile) is None


def test_a_paused_journey_holds_everyone_where_they_are(at_start):
    from journeys.services import journey_activate, journey_pause

    journey = make_journey([{"key": "out", "type": "exit"}])
    enrollment = enter(journey)
    journey_pause(journey=journey)
    engine.tick()
    assert refresh(enrollment).status == EnrollmentStatus.ACTIVE
    journey_activate(journey=journey)
    engine.tick()
    assert refresh(enrollment).status == EnrollmentStatus.EXITED


def test_a_claimed_enrollment_is_not_claimed_twice_until_its_lease_expires(at_start):
    journey = make_journey([{"key": "out", "type": "exit"}])
    enrollment = enter(journey)
    first = engine.claim(limit=10)
    assert [e.pk for e in first] == [enrollment.pk]
    assert engine.claim(limit=10) == []
    at_start.move_to(START + engine.lease() + timedelta(seconds=1))
    assert [e.pk for e in engine.claim(limit=10)] == [enrollment.pk]  # the worker died


def test_a_step_that_raises_fails_that_enrollment_only(at_start):
    journey = make_journey([{"key": "out", "type": "exit"}])
    good, bad = enter(journey), enter(journey)
    Enrollment.objects.filter(pk=bad.pk).update(current_step="gone")  # a corrupted row
    engine.tick()
    assert refresh(good).status == EnrollmentStatus.EXITED
    assert refresh(bad).status == EnrollmentStatus.FAILED
    assert timezone.now() == START


def test_the_demo_time_scale_shortens_waits(at_start, settings):
    settings.JOURNEY_TIME_SCALE = 60
    journey = make_journey([{"key": "w", "type": "wait", "settings": {"hours": 4}}])
    enrollment = enter(journey)
    engine.tick()
    assert refresh(enrollment).next_run_at == START + timedelta(minutes=4)
