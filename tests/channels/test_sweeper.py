from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from channels.models import MessageStatus
from channels.services import (
    dispatch,
    message_create,
    messages_mark_unknown,
    messages_release_due,
)
from channels.tasks import ensure_schedules
from tests.channels.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db


def crashed_mid_send(person, minutes_ago):
    """A message claimed by a worker that died before recording the provider's answer."""
    message = message_create(
        profile=person, template=EmailTemplateFactory(), idempotency_key="crash"
    )
    message.status = MessageStatus.SENDING
    message.sending_started_at = timezone.now() - timedelta(minutes=minutes_ago)
    message.save()
    return message


def test_a_message_left_in_sending_becomes_unknown_after_the_timeout(daytime, person):
    stuck = crashed_mid_send(person, minutes_ago=16)

    assert messages_mark_unknown() == 1

    stuck.refresh_from_db()
    assert (stuck.status, stuck.reason) == (MessageStatus.UNKNOWN, "stuck_in_sending")


def test_a_message_still_inside_the_timeout_is_left_alone(daytime, person):
    sending = crashed_mid_send(person, minutes_ago=5)

    assert messages_mark_unknown() == 0
    sending.refresh_from_db()
    assert sending.status == MessageStatus.SENDING


def test_an_unknown_message_is_never_resent(daytime, person, mailoutbox):
    stuck = crashed_mid_send(person, minutes_ago=30)
    messages_mark_unknown()

    messages_release_due()
    again = dispatch(message=stuck)

    assert again.status == MessageStatus.UNKNOWN
    assert mailoutbox == []


def test_the_sweep_command_marks_and_releases(daytime, person, capsys):
    crashed_mid_send(person, minutes_ago=30)
    call_command("channels_sweep")
    assert capsys.readouterr().out.strip() == "1 marked unknown, 0 released"


def test_deferred_messages_go_out_when_their_time_comes(settings, person, mailoutbox):
    settings.TWILIO_ACCOUNT_SID = ""  # console SMS
    template = EmailTemplateFactory()
    first_send = datetime(2026, 3, 10, 11, 0, tzinfo=ZoneInfo("America/New_York"))
    with time_machine.travel(first_send, tick=False):
        dispatch(message=message_create(profile=person, template=template, idempotency_key="a"))
        deferred = dispatch(
            message=message_create(profile=person, template=template, idempotency_key="b")
        )
        assert deferred.status == MessageStatus.DEFERRED
        assert messages_release_due() == 0

    with time_machine.travel(first_send + timedelta(minutes=61), tick=False):
        assert messages_release_due() == 1

    deferred.refresh_from_db()
    assert deferred.status == MessageStatus.SENT
    assert len(mailoutbox) == 2


def test_the_sweep_and_webhook_drain_schedules_are_created_once():
    from django_q.models import Schedule

    ensure_schedules()
    ensure_schedules()

    assert sorted(Schedule.objects.values_list("func", "minutes")) == [
        ("channels.tasks.sweep", 1),
        ("channels.webhooks.inbox.drain", 1),
    ]
