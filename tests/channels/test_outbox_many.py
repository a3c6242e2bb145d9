"""message_create_many: many messages queued at once, each key still queued once."""

from datetime import UTC, datetime

import pytest

from channels.models import Message, MessageStatus
from channels.services import message_create
from channels.services.outbox import _build_request, _build_requests, message_create_many
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


def test_messages_of_one_shape_are_built_as_model_init_builds_each():
    """A batch's messages of one template are copies of one built message, each given its
    own fields: what is not given stays the default, and no mutable default is shared."""
    template, ann, bob = EmailTemplateFactory(), ProfileFactory(), ProfileFactory()
    later = datetime(2025, 6, 11, tzinfo=UTC)
    requests = [
        {"profile": ann, "idempotency_key": "a", "template": template, "scheduled_for": later,
         "source_kind": "journey", "source_id": 7, "context": {"n": 1}},
        {"profile": bob, "idempotency_key": "b", "template": template},
        {"profile": ann, "idempotency_key": "c", "template": template, "category": "transactional"},
    ]  # fmt: skip
    built = _build_requests(requests)
    each = [_build_request(**request) for request in requests]

    def fields(message):
        return {f.attname: getattr(message, f.attname) for f in Message._meta.concrete_fields}

    assert [fields(message) for message in built] == [fields(message) for message in each]
    assert [message.profile for message in built] == [ann, bob, ann]
    assert built[1].scheduled_for is None and built[1].source_kind == ""
    assert built[0].headers is not built[1].headers
    assert all(message._state.adding for message in built)
    found = message_create_many(requests=requests)
    assert found["b"].template == template and found["c"].category == "transactional"
    with pytest.raises(TypeError):
        _build_requests([{"profile": ann, "idempotency_key": "d", "template": template},
                         {"profile": bob, "idempotency_key": "e", "template": template,
                          "colour": "red"}])  # fmt: skip
