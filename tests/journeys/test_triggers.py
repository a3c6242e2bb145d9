"""Events start journeys, end them at their goal, and leave imported history alone."""

from datetime import timedelta
from decimal import Decimal

import pytest

from journeys import engine
from journeys.models import Enrollment, EnrollmentStatus, StepLog
from profiles.services import event_track
from tests.factories import ProfileFactory
from tests.journeys.conftest import START, make_journey

pytestmark = pytest.mark.django_db


def track(profile, name, capture, source="api", value=None, **properties):
    with capture(execute=True):
        return event_track(profile=profile, name=name, properties=properties, source=source,
                           value=value)  # fmt: skip


def cart_flow(**fields):
    return make_journey(
        [{"key": "wait", "type": "wait", "settings": {"hours": 1}, "next": "done"},
         {"key": "done", "type": "exit", "settings": {"reason": "end"}}],
        trigger_type="event", trigger_event="Checkout Started",
        goal_events=["Order Completed"], **fields,
    )  # fmt: skip


def test_an_event_enrols_the_person_with_its_properties(
    at_start, django_capture_on_commit_callbacks
):
    journey = cart_flow()
    profile = ProfileFactory()
    track(profile, "Checkout Started", django_capture_on_commit_callbacks, cart_id="c1")
    enrollment = Enrollment.objects.get(journey=journey, profile=profile)
    assert enrollment.context["properties"] == {"cart_id": "c1"}
    assert enrollment.status == EnrollmentStatus.ACTIVE


def test_property_filters_must_match(at_start, django_capture_on_commit_callbacks):
    cart_flow(trigger_filters={"currency": "USD"})
    profile = ProfileFactory()
    track(profile, "Checkout Started", django_capture_on_commit_callbacks, currency="EUR")
    assert not Enrollment.objects.exists()
    track(profile, "Checkout Started", django_capture_on_commit_callbacks, currency="USD")
    assert Enrollment.objects.count() == 1


def test_imported_events_do_not_start_journeys(at_start, django_capture_on_commit_callbacks):
    cart_flow()
    track(ProfileFactory(), "Checkout Started", django_capture_on_commit_callbacks,
          source="import")  # fmt: skip
    assert not Enrollment.objects.exists()


def test_an_inactive_journey_enrols_nobody(at_start, django_capture_on_commit_callbacks):
    cart_flow(status="draft")
    from journeys.models import Journey

    Journey.objects.update(status="paused")
    track(ProfileFactory(), "Checkout Started", django_capture_on_commit_callbacks)
    assert not Enrollment.objects.exists()


def test_the_goal_event_ends_the_enrollment_as_converted(
    at_start, django_capture_on_commit_callbacks
):
    journey = cart_flow()
    profile = ProfileFactory()
    track(profile, "Checkout Started", django_capture_on_commit_callbacks)
    engine.tick()
    track(profile, "Order Completed", django_capture_on_commit_callbacks)
    enrollment = Enrollment.objects.get(journey=journey)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "goal: Order Completed")
    assert StepLog.objects.filter(enrollment=enrollment, outcome="converted").count() == 1
    at_start.move_to(START + timedelta(hours=2))
    engine.tick()
    enrollment.refresh_from_db()
    assert enrollment.exit_reason == "goal: Order Completed"  # the wait never resumed


def test_vip_enters_on_the_fifth_order_or_a_lifetime_value_of_500(
    at_start, django_capture_on_commit_callbacks
):
    make_journey([{"key": "out", "type": "exit"}], trigger_type="event",
                 trigger_event="Order Completed",
                 trigger_settings={"min_count": 5, "min_value_total": 500})  # fmt: skip
    frequent, big = ProfileFactory(), ProfileFactory()
    for _ in range(4):
        track(frequent, "Order Completed", django_capture_on_commit_callbacks, value=Decimal(20))
    assert not Enrollment.objects.filter(profile=frequent).exists()
    track(frequent, "Order Completed", django_capture_on_commit_callbacks, value=Decimal(20))
    assert Enrollment.objects.filter(profile=frequent).exists()
    track(big, "Order Completed", django_capture_on_commit_callbacks, value=Decimal(499))
    assert not Enrollment.objects.filter(profile=big).exists()
    track(big, "Order Completed", django_capture_on_commit_callbacks, value=Decimal(1))
    assert Enrollment.objects.filter(profile=big).exists()


def test_a_confirmed_sign_up_starts_the_welcome_journey(
    at_start, django_capture_on_commit_callbacks
):
    from compliance.services import consent_record

    journey = make_journey([{"key": "w", "type": "wait", "settings": {"days": 1}}],
                           trigger_type="subscribed")  # fmt: skip
    profile = ProfileFactory()
    with django_capture_on_commit_callbacks(execute=True):
        consent_record(profile=profile, channel="email", action="pending", source="signup_form")
    assert not Enrollment.objects.exists()  # pending is not subscribed yet
    with django_capture_on_commit_callbacks(execute=True):
        consent_record(profile=profile, channel="email", action="opt_in", source="double_opt_in")
    enrollment = Enrollment.objects.get(journey=journey)
    assert enrollment.context["properties"] == {"channel": "email", "source": "double_opt_in"}
    with django_capture_on_commit_callbacks(execute=True):  # an import's opt-in is no sign-up
        consent_record(profile=ProfileFactory(), channel="email", action="opt_in", source="import")
    assert Enrollment.objects.count() == 1


def test_a_new_profile_from_the_api_enters_a_profile_created_journey(
    at_start, django_capture_on_commit_callbacks
):
    from profiles.services import profile_upsert

    journey = make_journey([{"key": "w", "type": "wait", "settings": {"days": 1}}],
                           trigger_type="profile_created")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        created = profile_upsert(email="new@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        profile_upsert(email="new@example.com", first_name="Ada")  # an update: no second entry
    assert list(journey.enrollments.values_list("profile", flat=True)) == [created.pk]


def test_an_event_no_journey_cares_about_costs_no_query(at_start, django_assert_num_queries):
    from journeys import routing
    from journeys.triggers import on_event
    from profiles.models import Event

    cart_flow()
    routing.index()  # built once per few seconds, not per event
    event = Event.objects.create(profile=ProfileFactory(), name="Product Viewed", source="api")
    with django_assert_num_queries(0):
        assert on_event(event) == []
