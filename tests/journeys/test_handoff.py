"""Outbox first: a tick queues a journey's messages and hands the due ones to dispatch tasks;
each task sends, then runs on the enrollments that waited for it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django_q.signals import pre_enqueue

from channels.models import Message
from channels.services.tracking import engagement_record
from journeys import engine, sending
from journeys.models import Enrollment, EnrollmentStatus, StepLog
from journeys.services import enrollment_create
from journeys.tasks import dispatch_messages
from profiles.services import event_track
from tests.channels.factories import EmailTemplateFactory, SmsTemplateFactory
from tests.journeys.conftest import make_journey

pytestmark = pytest.mark.django_db

MORNING = datetime(2025, 6, 10, 13, 0, tzinfo=UTC)  # 09:00 in New York, a Tuesday


@pytest.fixture
def handed(monkeypatch):
    """Tasks stay queued (no cluster runs them): the list of those queued, as (func, args)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    tasks = []

    def record(sender, task, **kwargs):
        tasks.append((task["func"], task["args"]))

    pre_enqueue.connect(record, dispatch_uid="test-handed")
    yield tasks
    pre_enqueue.disconnect(dispatch_uid="test-handed")


@pytest.fixture
def mail_flow():
    EmailTemplateFactory(key="hello")
    return make_journey([
        {"key": "tier", "type": "branch", "yes": "mail", "no": "mail",
         "settings": {"kind": "trait", "trait": "tier", "op": "eq", "value": "gold"}},
        {"key": "mail", "type": "send_email", "settings": {"template": "hello"}, "next": "tag"},
        {"key": "tag", "type": "update_profile", "settings": {"traits": {"mailed": 1}}},
    ], goal_events=["Order Completed"])  # fmt: skip


def dispatch_tasks(tasks):
    return [args for func, args in tasks if func == "journeys.tasks.dispatch_messages"]


def run(tasks):
    """What a cluster does with the queued dispatch tasks."""
    return [dispatch_messages(*args) for args in dispatch_tasks(tasks)]


def test_the_tick_only_queues_and_the_dispatch_task_sends_and_runs_on(
    time_machine, person, mail_flow, handed, mailoutbox
):
    time_machine.move_to(MORNING, tick=False)
    enrollment = enrollment_create(journey=mail_flow, profile=person)

    report = engine.tick()

    message = Message.objects.get(profile=person)
    assert message.status == "queued" and mailoutbox == []
    assert (report.steps, report.handed) == (1, 1)  # the branch; the send waits, no step
    assert dispatch_tasks(handed) == [([message.pk],)]
    enrollment.refresh_from_db()
    assert (enrollment.current_step, enrollment.next_run_at) == (
        "mail", MORNING + sending.handoff_wait()
    )  # fmt: skip
    assert not StepLog.objects.filter(enrollment=enrollment, step="mail").exists()

    time_machine.move_to(MORNING + timedelta(seconds=30))
    assert run(handed) == [{"messages": 1, "enrollments": 1, "steps": 2}]

    message.refresh_from_db()
    enrollment.refresh_from_db()
    assert message.status == "sent" and len(mailoutbox) == 1
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert enrollment.state["messages"]["mail"]["at"] == message.sent_at.isoformat()
    log = StepLog.objects.filter(enrollment=enrollment).values_list("step", "outcome")
    assert list(log) == [("tier", "entered"), ("tier", "branched"), ("mail", "sent"),
                         ("tag", "updated")]  # fmt: skip


def test_a_lost_task_is_handed_again_after_the_wait_and_sends_once(
    time_machine, person, mail_flow, handed, mailoutbox
):
    time_machine.move_to(MORNING, tick=False)
    enrollment = enrollment_create(journey=mail_flow, profile=person)
    engine.tick()
    handed.clear()  # the broker lost it

    time_machine.move_to(MORNING + sending.handoff_wait() - timedelta(seconds=1))
    assert engine.tick().handed == 0  # still waiting for its task
    time_machine.move_to(MORNING + sending.handoff_wait())
    assert engine.tick().handed == 1
    enrollment.refresh_from_db()  # due for as long as the wait: it waits as long again
    assert enrollment.next_run_at == MORNING + 2 * sending.handoff_wait()
    run(handed + handed)  # even run twice

    assert Message.objects.filter(profile=person).count() == 1
    assert len(mailoutbox) == 1
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert StepLog.objects.filter(enrollment=enrollment, step="mail").count() == 1


def test_a_goal_while_the_message_waits_for_dispatch_cancels_it(
    time_machine, person, mail_flow, handed, mailoutbox, django_capture_on_commit_callbacks
):
    time_machine.move_to(MORNING, tick=False)
    enrollment_create(journey=mail_flow, profile=person)
    engine.tick()

    with django_capture_on_commit_callbacks(execute=True):
        event_track(profile=person, name="Order Completed", source="api")
    message = Message.objects.get(profile=person)
    assert (message.status, message.reason) == ("cancelled", "journey_exit:goal: Order Completed")
    run(handed)

    assert Message.objects.get(profile=person).status == "cancelled"
    assert mailoutbox == []
    assert Enrollment.objects.get().exit_reason == "goal: Order Completed"


def test_an_open_cancels_the_escalation_sms_waiting_for_dispatch(
    time_machine, person, handed, django_capture_on_commit_callbacks
):
    EmailTemplateFactory(key="cart-email")
    SmsTemplateFactory(key="cart-sms")
    journey = make_journey([
        {"key": "email", "type": "send_email", "settings": {"template": "cart-email"},
         "next": "opened?"},
        {"key": "opened?", "type": "wait_for_engagement", "yes": "done", "no": "sms",
         "settings": {"step": "email", "hours": 4, "opened": True}},
        {"key": "sms", "type": "send_sms",
         "settings": {"template": "cart-sms", "unless_engaged_with": "email"}},
        {"key": "done", "type": "exit"},
    ])  # fmt: skip
    time_machine.move_to(MORNING, tick=False)
    enrollment_create(journey=journey, profile=person)
    engine.tick()
    run(handed)
    handed.clear()
    time_machine.move_to(MORNING + timedelta(hours=4))
    engine.tick()  # no open in 4 h: the SMS is queued and handed to dispatch
    sms = Message.objects.get(channel="sms")
    assert sms.status == "queued"

    email = Message.objects.get(channel="email")
    with django_capture_on_commit_callbacks(execute=True):
        engagement_record(message=email, name="opened", key=f"open:{email.pk}")
    run(handed)

    sms.refresh_from_db()
    assert (sms.status, sms.reason) == ("skipped", "engaged_with_email")


def test_a_deferred_send_waits_until_its_time_then_is_handed_again(time_machine, person, handed):
    SmsTemplateFactory(key="late-sms")
    journey = make_journey([{"key": "text", "type": "send_sms",
                             "settings": {"template": "late-sms"}}])  # fmt: skip
    night = datetime(2025, 6, 11, 3, 0, tzinfo=UTC)  # 23:00 New York: quiet hours
    time_machine.move_to(night, tick=False)
    enrollment = enrollment_create(journey=journey, profile=person)
    engine.tick()
    run(handed)
    handed.clear()
    sms = Message.objects.get()
    enrollment.refresh_from_db()
    assert sms.status == "deferred"
    assert enrollment.next_run_at == sms.scheduled_for  # woken by its task, waits for T

    time_machine.move_to(sms.scheduled_for)
    assert engine.tick().handed == 1
    run(handed)

    sms.refresh_from_db()
    enrollment.refresh_from_db()
    assert sms.status == "sent" and enrollment.status == EnrollmentStatus.COMPLETED
    log = StepLog.objects.filter(enrollment=enrollment).values_list("outcome", flat=True)
    assert list(log) == ["entered", "deferred", "sent"]


def test_texts_for_a_paced_sender_go_in_tasks_it_sends_well_inside_the_timeout(settings, handed):
    settings.SMS_SEND_RATE_PER_SECOND = 1.0
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "1" * 32, "token"
    settings.TWILIO_FROM_NUMBER, settings.TWILIO_MESSAGING_SERVICE_SID = "+15005550006", ""
    texts = [Message(pk=pk, channel="sms") for pk in range(1, 301)]
    emails = [Message(pk=pk, channel="email") for pk in range(301, 601)]

    assert sending.hand_off(texts + emails) == 600

    sizes = sorted(len(args[0]) for args in dispatch_tasks(handed))
    assert sizes == [50, 60, 120, 120, 250]  # texts: 120 s each at 1 a second


def test_the_tick_and_its_tasks_send_each_message_once(time_machine, person, mail_flow):
    """With tasks run at once (the tests' django-q2 mode) a tick's people end where the
    inline dispatch left them."""
    time_machine.move_to(MORNING, tick=False)
    enrollment = enrollment_create(journey=mail_flow, profile=person)
    engine.tick()
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert len(mail.outbox) == 1
