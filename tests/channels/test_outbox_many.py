"""message_create_many: many messages queued at once, each key still queued once."""

from datetime import UTC, datetime

import pytest

from channels.models import Message, MessageStatus
from channels.services import message_create
from channels.services.outbox import message_create_many
from tests.channels.factories import EmailTemplateFactory, SmsTemplateFactory
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def test_each_message_keeps_its_own_values_and_the_shared_ones():
    email, sms = EmailTemplateFactory(), SmsTemplateFactory()
    ann, bob = ProfileFactory(), ProfileFactory()
    expiry = datetime(2025, 6, 11, tzinfo=UTC)
    found = message_create_many(requests=[
        {"profile": ann, "idempotency_key": "a", "template": email,
         "context": {"product": "Green tea"}, "expires_at": expiry, "source_kind": "journey",
         "source_id": 7},
        {"profile": bob, "idempotency_key": "b", "template": sms, "context": {}},
    ])  # fmt: skip

    a, b = found["a"], found["b"]
    assert (a.profile, a.channel, a.category, a.topic) == (ann, "email", "marketing",
                                                           email.topic)  # fmt: skip
    assert (a.context, a.expires_at, a.source_kind, a.source_id) == (
        {"product": "Green tea"}, expiry, "journey", 7
    )  # fmt: skip
    assert (b.profile, b.channel, b.context, b.expires_at, b.source_id) == (
        bob, "sms", {}, None, None
    )  # fmt: skip
    assert a.status == b.status == MessageStatus.QUEUED
    assert a.created_at is not None and a.headers == {}


def test_a_key_already_queued_gives_the_message_there_and_no_second_one():
    template, person = EmailTemplateFactory(), ProfileFactory()
    first = message_create(profile=person, template=template, idempotency_key="journey:1:m:0")
    Message.objects.filter(pk=first.pk).update(status=MessageStatus.SENT)

    found = message_create_many(requests=[
        {"profile": person, "template": template, "idempotency_key": "journey:1:m:0"},
        {"profile": person, "template": template, "idempotency_key": "journey:2:m:0"},
    ])  # fmt: skip

    assert found["journey:1:m:0"].pk == first.pk
    assert found["journey:1:m:0"].status == MessageStatus.SENT
    assert Message.objects.count() == 2
    assert message_create_many(requests=[]) == {}


@pytest.mark.parametrize(
    "first, second", [({"n": 1}, {"n": True}), ({"total": 10}, {"total": 10.0})]
)
def test_each_message_keeps_its_own_context_even_when_python_calls_them_equal(first, second):
    template = EmailTemplateFactory()
    found = message_create_many(
        requests=[
            {"profile": ProfileFactory(), "idempotency_key": "a", "template": template,
             "context": first},
            {"profile": ProfileFactory(), "idempotency_key": "b", "template": template,
             "context": second},
        ]
    )  # fmt: skip
    stored = Message.objects.get(idempotency_key="b").context
    assert repr(found["b"].context) == repr(stored) == repr(second)
