"""dispatch_many: a batch of messages decided, claimed and sent as dispatch would, one by one."""

from datetime import timedelta

import pytest
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.models import Message, MessageStatus
from channels.services import dispatch, dispatch_many, message_create
from compliance.models import ConsentAction, ConsentSource
from compliance.services import consent_record
from tests.channels.factories import EmailTemplateFactory
from tests.channels.helpers import TWILIO_MESSAGES_URL, fixture_json
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def subscribers(count, channels=("email",)):
    people = [ProfileFactory() for _ in range(count)]
    for person in people:
        for channel in channels:
            consent_record(profile=person, channel=channel, action=ConsentAction.OPT_IN,
                           source=ConsentSource.ADMIN)  # fmt: skip
    return people


def queue(people, template, prefix="m"):
    return [
        message_create(profile=p, template=template, idempotency_key=f"{prefix}:{i}")
        for i, p in enumerate(people)
    ]


def test_a_batch_sends_each_message_once_even_when_dispatched_again(daytime, mailoutbox):
    messages = queue(subscribers(5), EmailTemplateFactory())

    first = dispatch_many(messages=messages + messages[:2])
    again = dispatch_many(messages=[m.pk for m in messages])

    assert [m.pk for m in first] == [m.pk for m in messages]
    assert [m.status for m in again] == [MessageStatus.SENT] * 5
    assert [m.attempts for m in again] == [1] * 5
    assert sorted(email.to[0] for email in mailoutbox) == sorted(m.to_address for m in again)
    assert len(mailoutbox) == 5


def test_two_messages_to_one_person_in_one_batch_keep_the_minimum_gap(daytime, mailoutbox):
    (person,) = subscribers(1)
    template = EmailTemplateFactory()
    first, second = queue([person, person], template)

    dispatch_many(messages=[first, second])

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == MessageStatus.SENT
    assert (second.status, second.reason) == (MessageStatus.DEFERRED, "cap_min-gap")
    assert second.scheduled_for == first.sending_started_at + timedelta(minutes=60)
    assert len(mailoutbox) == 1


@responses.activate
def test_a_stop_recorded_before_the_batch_suppresses_that_text_only(daytime, twilio, sms_template):
    responses.post(
        TWILIO_MESSAGES_URL, json=fixture_json("twilio_message_created.json"), status=201
    )
    stopped, other = subscribers(2, channels=("sms",))
    messages = queue([stopped, other], sms_template)
    consent_record(profile=stopped, channel="sms", action=ConsentAction.OPT_OUT,
                   source=ConsentSource.SMS_KEYWORD, evidence={"body": "STOP"})  # fmt: skip

    suppressed, sent = dispatch_many(messages=messages)

    assert (suppressed.status, suppressed.reason) == ("suppressed", "suppressed_sms_stop")
    assert suppressed.body_text == ""
    assert sent.status == MessageStatus.SENT
    assert len(responses.calls) == 1
    assert str(other.phone).replace("+", "%2B") in responses.calls[0].request.body


def test_a_batch_mixes_sends_deferrals_expiries_and_suppressions(daytime, mailoutbox):
    allowed, never_asked = subscribers(1)[0], ProfileFactory()
    template = EmailTemplateFactory()
    ok, refused = queue([allowed, never_asked], template)
    expired = message_create(profile=allowed, template=template, idempotency_key="late",
                             expires_at=timezone.now() - timedelta(seconds=1))  # fmt: skip

    results = dispatch_many(messages=[ok, refused, expired])

    assert [(m.status, m.reason) for m in results] == [
        ("sent", ""),
        ("suppressed", "consent_never"),
        ("skipped", "expired"),
    ]
    assert len(mailoutbox) == 1


def test_the_queries_of_a_batch_do_not_grow_with_its_size(daytime, mailoutbox):
    template = EmailTemplateFactory()
    small = queue(subscribers(5), template, prefix="small")
    large = queue(subscribers(40), template, prefix="large")

    with CaptureQueriesContext(connection) as few:
        dispatch_many(messages=small)
    with CaptureQueriesContext(connection) as many:
        dispatch_many(messages=large)

    assert len(many) == len(few)
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 45


def test_what_a_batch_returns_is_what_its_rows_hold(daytime, mailoutbox):
    allowed, never_asked = subscribers(1)[0], ProfileFactory()
    template = EmailTemplateFactory()
    ok, refused, gap = queue([allowed, never_asked, allowed], template)
    later = message_create(profile=allowed, template=template, idempotency_key="later",
                           scheduled_for=timezone.now() + timedelta(days=1))  # fmt: skip
    done = message_create(profile=allowed, template=template, idempotency_key="done")
    Message.objects.filter(pk=done.pk).update(status=MessageStatus.SENT, reason="earlier")

    results = dispatch_many(messages=[ok, refused, gap, later, done])

    fields = [f.attname for f in Message._meta.concrete_fields]
    for returned in results:
        stored = Message.objects.get(pk=returned.pk)
        assert {f: getattr(returned, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert [m.status for m in results] == ["sent", "suppressed", "deferred", "queued", "sent"]


def test_a_render_failure_returns_what_its_row_holds(daytime, person, mailoutbox):
    template = EmailTemplateFactory(
        body_html="<p>hi</p>{% if traits.vip %}{{ footer }}{% endif %}", body_text=""
    )
    message = message_create(profile=person, template=template, idempotency_key="k")

    returned = dispatch(message=message)

    stored = Message.objects.get(pk=message.pk)
    assert returned.status == stored.status == "failed"
    assert returned.to_address == stored.to_address
