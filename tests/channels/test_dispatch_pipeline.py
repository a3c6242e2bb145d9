"""dispatch_many over batches larger than one claim statement: on PostgreSQL the claims and
their links' inserts go out in pipeline mode while the rest of the batch renders
(channels.services.claim.Claims); every outcome must be what one claim at the end gave."""

import random
import secrets

import pytest
from django.db import connection

from channels.models import Link, Message, MessageStatus
from channels.models.tracking import new_link_code
from channels.services import dispatch_many, message_create
from channels.services.claim import CLAIM_EVERY
from compliance.models import ConsentAction, ConsentSource
from compliance.services import consent_record
from tests.channels.factories import EmailTemplateFactory, SmsTemplateFactory
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

COUNT = 2 * CLAIM_EVERY + 7  # two claims in flight, and a last part claimed at the end


def texters(count):
    people = [ProfileFactory(phone=f"+1415555{i:04d}") for i in range(count)]
    for person in people:
        consent_record(profile=person, channel="sms", action=ConsentAction.OPT_IN,
                       source=ConsentSource.ADMIN)  # fmt: skip
    return people


def test_a_batch_of_several_claims_sends_each_message_once(daytime, console_adapters):
    template = SmsTemplateFactory()
    people = texters(COUNT)
    messages = [
        message_create(profile=p, template=template, idempotency_key=f"p:{i}")
        for i, p in enumerate(people)
    ]
    never_asked = message_create(profile=ProfileFactory(phone="+14155559999"),
                                 template=template, idempotency_key="never")  # fmt: skip

    returned = dispatch_many(messages=[*messages[:60], never_asked, *messages[60:]])
    again = dispatch_many(messages=messages)

    assert [m.pk for m in returned] == [m.pk for m in [*messages[:60], never_asked, *messages[60:]]]
    fields = [f.attname for f in Message._meta.concrete_fields]
    for message in returned:
        stored = Message.objects.get(pk=message.pk)
        assert {f: getattr(message, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert (returned[60].status, returned[60].reason) == ("suppressed", "consent_never")
    assert [m.status for m in again] == [MessageStatus.SENT] * COUNT
    assert [m.attempts for m in again] == [1] * COUNT
    links = {link.message_id: link for link in Link.objects.all()}
    assert set(links) == {m.pk for m in messages}
    for message in again:
        assert f"/l/{links[message.pk].code}" in message.body_text


def test_a_link_code_collision_in_a_claim_already_sent_is_drawn_again(
    daytime, console_adapters, monkeypatch
):
    """The text whose drawn code is taken is claimed (pipelined) with that code in its body;
    the link is drawn again at the end and the body written again before the commit."""
    template = SmsTemplateFactory()
    people = texters(COUNT)
    messages = [
        message_create(profile=p, template=template, idempotency_key=f"c:{i}")
        for i, p in enumerate(people)
    ]
    draws = random.Random(7)
    monkeypatch.setattr(secrets, "token_bytes", draws.randbytes)
    codes = [new_link_code() for _ in range(COUNT)]
    victim = 3  # drawn in the first claim's part
    Link.objects.create(code=codes[victim], message=messages[-1], url="https://other.example/")
    draws.seed(7)  # the batch draws the same codes again, in message order

    results = dispatch_many(messages=messages)

    assert [m.status for m in results] == [MessageStatus.SENT] * COUNT
    hit = Message.objects.get(pk=messages[victim].pk)
    (link,) = Link.objects.filter(message=hit)
    assert link.code != codes[victim]
    assert f"/l/{link.code}" in hit.body_text
    assert codes[victim] not in hit.body_text
    assert results[victim].body_text == hit.body_text
    for message in Message.objects.filter(pk__in=[m.pk for m in messages]):
        (link,) = Link.objects.filter(message=message).exclude(url="https://other.example/")
        assert f"/l/{link.code}" in message.body_text


def test_an_email_batch_of_several_claims_sends_each_once(daytime, mailoutbox):
    template = EmailTemplateFactory()
    people = [ProfileFactory() for _ in range(COUNT)]
    for person in people:
        consent_record(profile=person, channel="email", action=ConsentAction.OPT_IN,
                       source=ConsentSource.ADMIN)  # fmt: skip
    messages = [
        message_create(profile=p, template=template, idempotency_key=f"e:{i}")
        for i, p in enumerate(people)
    ]

    dispatch_many(messages=messages)

    assert Message.objects.filter(status=MessageStatus.SENT).count() == COUNT
    assert len(mailoutbox) == COUNT
    assert not connection.needs_rollback
