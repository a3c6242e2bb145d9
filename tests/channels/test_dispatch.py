from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import responses
import time_machine
from django.utils import timezone
from django_q.models import Schedule

from channels.models import DeliveryAlert, Message, MessageStatus
from channels.services import dispatch, message_create
from compliance.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Suppression,
)
from compliance.services import consent_record, is_suppressed
from tests.channels.factories import EmailTemplateFactory
from tests.channels.helpers import TWILIO_MESSAGES_URL, fixture_json
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def queue(person, template, key="k1", **kwargs):
    return message_create(profile=person, template=template, idempotency_key=key, **kwargs)


def test_an_allowed_email_is_rendered_sent_and_recorded(daytime, person, mailoutbox):
    template = EmailTemplateFactory()
    event = EventFactory(profile=person, properties={"product": "Green tea"})
    message = dispatch(message=queue(person, template, trigger_event=event))

    assert message.status == MessageStatus.SENT
    assert message.to_address == "ada@example.com"
    assert message.subject == "Hello Ada"
    assert "sale on Green tea." in message.body_text
    assert message.attempts == 1
    assert message.provider == "locmem"
    assert len(mailoutbox) == 1
    sent = mailoutbox[0]
    assert message.provider_message_id == sent.extra_headers["Message-ID"]
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.alternatives[0][0] == message.body_html


def test_dispatching_the_same_message_twice_sends_once(daytime, person, mailoutbox):
    message = queue(person, EmailTemplateFactory())

    dispatch(message=message)
    again = dispatch(message=message)

    assert len(mailoutbox) == 1
    assert again.status == MessageStatus.SENT
    assert again.attempts == 1


def test_message_create_is_idempotent_on_its_key(person):
    template = EmailTemplateFactory()
    first = queue(person, template, key="journey:1:step:2:visit:1")
    second = queue(person, template, key="journey:1:step:2:visit:1")

    assert first.pk == second.pk
    assert Message.objects.count() == 1


@responses.activate
def test_stop_recorded_before_dispatch_suppresses_the_sms(daytime, twilio, person, sms_template):
    message = queue(person, sms_template)
    consent_record(
        profile=person,
        channel="sms",
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.SMS_KEYWORD,
        evidence={"body": "STOP"},
    )

    message = dispatch(message=message)

    assert message.status == MessageStatus.SUPPRESSED
    assert message.reason == "suppressed_sms_stop"
    assert len(responses.calls) == 0


@responses.activate
def test_an_allowed_sms_goes_to_twilio_with_tracked_link_and_stop_text(
    daytime, twilio, person, sms_template
):
    responses.post(
        TWILIO_MESSAGES_URL, json=fixture_json("twilio_message_created.json"), status=201
    )

    message = dispatch(message=queue(person, sms_template))

    assert message.status == MessageStatus.SENT
    assert message.provider_message_id == "SM0123456789abcdef0123456789abcdef"
    assert message.provider_status == "accepted"
    code = message.links.get().code
    assert message.body_text == (
        f"TandemShop: hi Ada, 20% off today https://tandem.example.com/l/{code}\n"
        "Reply STOP to opt out"
    )
    assert message.segments == 1


@responses.activate
def test_a_transient_error_schedules_a_retry_with_backoff(daytime, twilio, person, sms_template):
    responses.post(TWILIO_MESSAGES_URL, json=fixture_json("twilio_error_20429.json"), status=429)

    message = dispatch(message=queue(person, sms_template))

    assert message.status == MessageStatus.QUEUED
    assert message.reason == "retry_20429"
    assert message.attempts == 1
    delay = message.scheduled_for - timezone.now()
    assert timedelta(seconds=14) <= delay <= timedelta(seconds=31)
    schedule = Schedule.objects.get()
    assert (schedule.func, schedule.args) == ("channels.tasks.dispatch_message", f"({message.pk},)")
    assert schedule.schedule_type == Schedule.ONCE


@responses.activate
def test_the_retry_sends_the_same_rendered_text(daytime, twilio, person, sms_template):
    responses.post(TWILIO_MESSAGES_URL, json=fixture_json("twilio_error_20429.json"), status=429)
    message = dispatch(message=queue(person, sms_template))
    body = message.body_text
    responses.replace(
        responses.POST,
        TWILIO_MESSAGES_URL,
        json=fixture_json("twilio_message_created.json"),
        status=201,
    )

    daytime.shift(timedelta(minutes=2))
    message = dispatch(message=message)

    assert message.status == MessageStatus.SENT
    assert message.attempts == 2
    assert message.body_text == body
    assert message.links.count() == 1


@responses.activate
def test_transient_errors_give_up_after_the_limit(daytime, twilio, person, sms_template):
    twilio.DISPATCH_MAX_ATTEMPTS = 2
    responses.post(TWILIO_MESSAGES_URL, body="Service Unavailable", status=503)
    message = dispatch(message=queue(person, sms_template))
    daytime.shift(timedelta(minutes=2))

    message = dispatch(message=message)

    assert message.status == MessageStatus.FAILED
    assert message.reason == "gave_up_http_503"
    assert len(responses.calls) == 2


@responses.activate
def test_twilio_21610_records_a_carrier_opt_out_and_raises_an_alert(
    daytime, twilio, person, sms_template
):
    responses.post(TWILIO_MESSAGES_URL, json=fixture_json("twilio_error_21610.json"), status=400)

    message = dispatch(message=queue(person, sms_template))

    assert message.status == MessageStatus.FAILED
    assert message.reason == "carrier_opt_out"
    assert message.provider_error_code == "21610"
    ledger = ConsentEvent.objects.get(source=ConsentSource.CARRIER)
    assert (ledger.address, ledger.action, ledger.channel) == ("+14155550123", "opt_out", "sms")
    assert Suppression.objects.get(address="+14155550123").reason == "carrier_opt_out"
    alert = DeliveryAlert.objects.get()
    assert (alert.kind, alert.message_id) == ("carrier_opt_out", message.pk)
    assert Schedule.objects.count() == 0

    later = dispatch(message=queue(person, sms_template, key="k2"))
    assert later.status == MessageStatus.SUPPRESSED
    assert len(responses.calls) == 1


@responses.activate
def test_twilio_21211_marks_the_number_undeliverable(daytime, twilio, person, sms_template):
    responses.post(TWILIO_MESSAGES_URL, json=fixture_json("twilio_error_21211.json"), status=400)

    message = dispatch(message=queue(person, sms_template))

    assert (message.status, message.reason) == (MessageStatus.FAILED, "invalid_address")
    assert is_suppressed(address="+14155550123", channel="sms")
    assert DeliveryAlert.objects.count() == 0


@responses.activate
def test_a_read_timeout_leaves_the_message_unknown_and_unretried(
    daytime, twilio, person, sms_template
):
    import requests

    responses.post(TWILIO_MESSAGES_URL, body=requests.ReadTimeout("read timed out"))

    message = dispatch(message=queue(person, sms_template))

    assert (message.status, message.reason) == (MessageStatus.UNKNOWN, "ambiguous_timeout")
    assert Schedule.objects.count() == 0


def test_quiet_hours_defer_an_sms_to_the_morning(twilio, person, sms_template):
    night = datetime(2026, 3, 10, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    with time_machine.travel(night, tick=False):
        message = dispatch(message=queue(person, sms_template))

    assert message.status == MessageStatus.DEFERRED
    morning = datetime(2026, 3, 11, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    assert morning <= message.scheduled_for < morning + timedelta(minutes=15)
    assert message.reason.startswith("quiet_hours")
    assert message.body_text == ""


def test_a_recent_send_counts_against_the_minimum_gap(daytime, person, mailoutbox):
    template = EmailTemplateFactory()
    dispatch(message=queue(person, template, key="first"))
    daytime.shift(timedelta(minutes=10))

    second = dispatch(message=queue(person, template, key="second"))

    assert second.status == MessageStatus.DEFERRED
    assert second.reason == "cap_min-gap"
    assert len(mailoutbox) == 1


def test_a_deferral_past_the_expiry_skips_the_message(daytime, person, mailoutbox):
    template = EmailTemplateFactory()
    dispatch(message=queue(person, template, key="first"))
    expires = timezone.now() + timedelta(minutes=30)

    second = dispatch(message=queue(person, template, key="second", expires_at=expires))

    assert second.status == MessageStatus.SKIPPED
    assert second.reason == "expired_while_deferred:cap_min-gap"


def test_a_template_that_hides_its_footer_fails_with_an_alert(daytime, person, mailoutbox):
    template = EmailTemplateFactory(body_html="<p>x</p>{% if no %}{{ footer }}{% endif %}")

    message = dispatch(message=queue(person, template))

    assert (message.status, message.reason) == (MessageStatus.FAILED, "template_missing_footer")
    assert DeliveryAlert.objects.get().kind == "render_error"
    assert mailoutbox == []


def test_transactional_email_without_marketing_consent_is_sent(daytime, mailoutbox):
    from tests.factories import ProfileFactory

    stranger = ProfileFactory()
    template = EmailTemplateFactory(category="transactional", topic=None)

    message = dispatch(message=queue(stranger, template))

    assert message.status == MessageStatus.SENT
    assert "List-Unsubscribe" not in mailoutbox[0].extra_headers
