"""Email first, wait, SMS only if the email was not opened or clicked: end to end."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from channels.models import Message
from channels.services.tracking import engagement_record
from journeys import engine
from journeys.models import Enrollment, StepLog
from journeys.services import enrollment_create
from profiles.services import event_track
from tests.channels.factories import EmailTemplateFactory, SmsTemplateFactory
from tests.journeys.conftest import make_journey

pytestmark = pytest.mark.django_db

MORNING = datetime(2025, 6, 10, 13, 0, tzinfo=UTC)  # 09:00 in New York, a Tuesday


@pytest.fixture(autouse=True)
def no_pacing(settings):
    settings.SMS_SEND_RATE_PER_SECOND = 0
    settings.TWILIO_ACCOUNT_SID = ""  # console SMS adapter


@pytest.fixture
def cart_flow():
    EmailTemplateFactory(key="cart-email")
    SmsTemplateFactory(key="cart-sms")
    return make_journey([
        {"key": "wait-1h", "type": "wait", "settings": {"hours": 1}, "next": "email"},
        {"key": "email", "type": "send_email", "settings": {"template": "cart-email"},
         "next": "opened?"},
        {"key": "opened?", "type": "wait_for_engagement", "yes": "engaged", "no": "sms",
         "settings": {"step": "email", "hours": 4, "opened": True, "clicked": True}},
        {"key": "sms", "type": "send_sms",
         "settings": {"template": "cart-sms", "unless_engaged_with": "email"}},
        {"key": "engaged", "type": "exit", "settings": {"reason": "engaged"}},
    ], trigger_type="event", trigger_event="Checkout Started",
       goal_events=["Order Completed"])  # fmt: skip


def sent(profile, channel):
    return Message.objects.filter(profile=profile, channel=channel, status="sent").count()


def open_email(profile, capture, **properties):
    message = Message.objects.get(profile=profile, channel="email")
    with capture(execute=True):
        engagement_record(message=message, name="opened", key=f"open:{message.pk}",
                          properties=properties)  # fmt: skip


def test_not_opened_email_is_followed_by_an_sms_after_four_hours(time_machine, person, cart_flow):
    time_machine.move_to(MORNING, tick=False)
    enrollment = enrollment_create(journey=cart_flow, profile=person)
    engine.tick()
    assert sent(person, "email") == 0
    time_machine.move_to(MORNING + timedelta(hours=1))
    engine.tick()
    assert sent(person, "email") == 1
    time_machine.move_to(MORNING + timedelta(hours=4, minutes=59))
    engine.tick()
    assert sent(person, "sms") == 0
    time_machine.move_to(MORNING + timedelta(hours=5))
    engine.tick()
    assert sent(person, "sms") == 1
    enrollment.refresh_from_db()
    assert enrollment.status == "completed"
    outcomes = list(StepLog.objects.filter(enrollment=enrollment).values_list("step", "outcome"))
    assert ("opened?", "timed_out") in outcomes and ("sms", "sent") in outcomes


def test_an_opened_email_means_no_sms_and_wakes_the_wait_at_once(
    time_machine, person, cart_flow, django_capture_on_commit_callbacks
):
    time_machine.move_to(MORNING, tick=False)
    enrollment = enrollment_create(journey=cart_flow, profile=person)
    engine.tick()
    time_machine.move_to(MORNING + timedelta(hours=1))
    engine.tick()
    time_machine.move_to(MORNING + timedelta(hours=2))
    open_email(person, django_capture_on_commit_callbacks)  # its immediate run goes at once
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "engaged")
    assert enrollment.exited_at == MORNING + timedelta(hours=2)  # not at the 4 h mark
    engine.tick()
    assert Message.objects.filter(profile=person, channel="sms").count() == 0


def test_an_open_while_the_sms_waits_for_quiet_hours_cancels_it(
    time_machine, person, cart_flow, django_capture_on_commit_callbacks
):
    evening = datetime(2025, 6, 10, 21, 0, tzinfo=UTC)  # 17:00 New York
    time_machine.move_to(evening, tick=False)
    enrollment = enrollment_create(journey=cart_flow, profile=person)
    engine.tick()
    time_machine.move_to(evening + timedelta(hours=1))  # 18:00: the email goes
    engine.tick()
    time_machine.move_to(evening + timedelta(hours=5))  # 22:00: the SMS is deferred
    engine.tick()
    sms = Message.objects.get(profile=person, channel="sms")
    assert (sms.status, sms.reason) == ("deferred", "quiet_hours_federal")
    enrollment.refresh_from_db()
    assert enrollment.current_step == "sms" and enrollment.status == "active"

    time_machine.move_to(evening + timedelta(hours=6))
    open_email(person, django_capture_on_commit_callbacks)  # opened at 23:00
    sms.refresh_from_db()
    assert (sms.status, sms.reason) == ("skipped", "engaged_with_email")
    time_machine.move_to(datetime(2025, 6, 11, 12, 30, tzinfo=UTC))
    engine.tick()
    assert sent(person, "sms") == 0
    enrollment.refresh_from_db()
    assert enrollment.status == "completed"


def test_a_quiet_hours_deferral_inside_a_journey_sends_in_the_morning(time_machine, person):
    SmsTemplateFactory(key="late-sms")
    journey = make_journey([{"key": "text", "type": "send_sms",
                             "settings": {"template": "late-sms"}}])  # fmt: skip
    night = datetime(2025, 6, 11, 3, 0, tzinfo=UTC)  # 23:00 New York
    time_machine.move_to(night, tick=False)
    enrollment = enrollment_create(journey=journey, profile=person)
    engine.tick()
    enrollment.refresh_from_db()
    eight = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)
    assert eight <= enrollment.next_run_at <= eight + timedelta(minutes=25)
    time_machine.move_to(enrollment.next_run_at)
    engine.tick()
    assert sent(person, "sms") == 1
    log = StepLog.objects.filter(enrollment=enrollment).values_list("outcome", flat=True)
    assert list(log) == ["entered", "deferred", "sent"]


def test_a_send_deferred_past_its_expiry_is_skipped_and_the_journey_moves_on(time_machine, person):
    SmsTemplateFactory(key="short-sms")
    journey = make_journey([
        {"key": "text", "type": "send_sms", "next": "tag",
         "settings": {"template": "short-sms", "expiry_hours": 2}},
        {"key": "tag", "type": "update_profile", "settings": {"traits": {"after": 1}}},
    ])  # fmt: skip
    time_machine.move_to(datetime(2025, 6, 11, 3, 0, tzinfo=UTC), tick=False)
    enrollment = enrollment_create(journey=journey, profile=person)
    engine.tick()
    enrollment.refresh_from_db()
    assert enrollment.status == "completed"
    message = Message.objects.get(profile=person)
    assert message.status == "skipped" and message.reason.startswith("expired_while_deferred")
    assert StepLog.objects.filter(enrollment=enrollment, step="text",
                                  outcome="skipped").exists()  # fmt: skip


def test_the_goal_cancels_a_waiting_sms_and_ends_the_flow(
    time_machine, person, cart_flow, django_capture_on_commit_callbacks
):
    evening = datetime(2025, 6, 10, 21, 0, tzinfo=UTC)
    time_machine.move_to(evening, tick=False)
    enrollment_create(journey=cart_flow, profile=person)
    for hours in (0, 1, 5):
        time_machine.move_to(evening + timedelta(hours=hours))
        engine.tick()
    with django_capture_on_commit_callbacks(execute=True):
        event_track(profile=person, name="Order Completed", source="api")
    sms = Message.objects.get(profile=person, channel="sms")
    assert sms.status == "cancelled"
    assert Enrollment.objects.get().exit_reason == "goal: Order Completed"


def test_a_rerun_after_a_crash_finds_the_message_instead_of_sending_again(time_machine, person):
    EmailTemplateFactory(key="once")
    journey = make_journey(
        [{"key": "mail", "type": "send_email", "settings": {"template": "once"}}]
    )
    time_machine.move_to(MORNING, tick=False)
    enrollment = enrollment_create(journey=journey, profile=person)
    engine.tick()
    assert sent(person, "email") == 1
    # The worker died after sending, before its save: the enrollment is back at the step.
    back = {"current_step": "mail", "status": "active", "next_run_at": MORNING, "steps_taken": 0}
    Enrollment.objects.filter(pk=enrollment.pk).update(**back)
    engine.tick()
    assert Message.objects.filter(profile=person).count() == 1
    assert len(mail.outbox) == 1


def test_a_machine_open_does_not_stop_the_sms(
    time_machine, person, cart_flow, django_capture_on_commit_callbacks
):
    time_machine.move_to(MORNING, tick=False)
    enrollment_create(journey=cart_flow, profile=person)
    engine.tick()
    time_machine.move_to(MORNING + timedelta(hours=1))
    engine.tick()
    open_email(person, django_capture_on_commit_callbacks, machine_open=True)
    time_machine.move_to(MORNING + timedelta(hours=5))
    engine.tick()
    assert sent(person, "sms") == 1
