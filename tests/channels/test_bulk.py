"""rows_update: many rows, each with its own values, written once and read back unchanged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels.models import Message, MessageStatus
from channels.services.bulk import rows_update
from channels.services.claim import CLAIM_FIELDS, HOLD_FIELDS
from tests.channels.factories import MessageFactory

pytestmark = pytest.mark.django_db

AWKWARD = [
    "",
    "plain",
    "quotes ' and \" and {braces}, commas, back\\slash",
    "NULL",
    "zoë 🚀 ünïcode\nnew line\ttab",
    '<p style="color: #333">' + "x" * 20_000 + "</p>",
]


def test_each_row_gets_its_own_values_back_exactly():
    now = timezone.now()
    messages = MessageFactory.create_batch(len(AWKWARD))
    for i, (message, text) in enumerate(zip(messages, AWKWARD, strict=True)):
        message.status, message.reason = MessageStatus.SENDING, ""
        message.sending_started_at = now + timedelta(microseconds=i)
        message.attempts = i
        message.to_address = f"+1415555{i:04d}"
        message.subject, message.body_text, message.body_html = text[:200], text, text
        message.headers = {"List-Id": text[:50], "n": i} if i % 2 else {}
        message.segments = None if i % 2 else i
        message.rendered_at = None if i == 3 else now

    won = rows_update(messages, CLAIM_FIELDS, status_in=[MessageStatus.QUEUED])

    assert won == {m.pk for m in messages}
    for message in messages:
        stored = Message.objects.get(pk=message.pk)
        for name in CLAIM_FIELDS:
            assert getattr(stored, name) == getattr(message, name), name


def test_rows_whose_status_moved_on_are_left_alone_and_not_reported():
    queued, sent = MessageFactory.create_batch(2)
    Message.objects.filter(pk=sent.pk).update(status=MessageStatus.SENT)
    for message in (queued, sent):
        message.status, message.reason = MessageStatus.DEFERRED, "quiet_hours"
        message.scheduled_for = timezone.now() + timedelta(hours=1)

    won = rows_update([queued, sent], HOLD_FIELDS, status_in=[MessageStatus.QUEUED])

    assert won == {queued.pk}
    assert Message.objects.get(pk=sent.pk).status == MessageStatus.SENT
    assert Message.objects.get(pk=queued.pk).reason == "quiet_hours"


def test_foreign_key_columns_are_prepared_as_get_db_prep_save_prepares_them():
    """A column of ids passes as it is (no call a value); anything else still goes through
    the field, as get_db_prep_save would take it."""
    from django.db import connection

    from channels.services.bulk import _prepared
    from journeys.models import Enrollment

    for model, name in [(Message, "profile"), (Message, "template"), (Enrollment, "journey")]:
        field = model._meta.get_field(name)
        ids = [3, None, 7]
        assert _prepared(field, ids) is ids
        for values in (ids, [True, 2], ["4", None]):
            expected = [field.get_db_prep_save(value, connection) for value in values]
            got = _prepared(field, values)
            assert got == expected and [type(v) for v in got] == [type(v) for v in expected]
