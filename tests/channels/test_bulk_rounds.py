"""rows_update over many rounds (past psycopg's prepare threshold): NULLs, empty strings,
unicode, JSON, aware datetimes."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from channels.models import Message, MessageStatus
from channels.services.bulk import rows_update
from channels.services.claim import CLAIM_FIELDS, HOLD_FIELDS
from tests.channels.factories import MessageFactory

pytestmark = pytest.mark.django_db


def test_all_null_and_all_empty_columns_many_times():
    messages = MessageFactory.create_batch(3)
    for round_ in range(8):  # past psycopg's prepare_threshold
        for i, m in enumerate(messages):
            m.status = MessageStatus.QUEUED
            m.reason = "" if round_ % 2 else f"r{i}"
            m.scheduled_for = None if round_ % 2 else timezone.now() + timedelta(minutes=i)
            m.provider_error_text = ""
        assert rows_update(messages, HOLD_FIELDS, status_in=["queued"]) == {m.pk for m in messages}
        for m in messages:
            s = Message.objects.get(pk=m.pk)
            assert (s.reason, s.scheduled_for) == (m.reason, m.scheduled_for)
    for round_ in range(8):
        for i, m in enumerate(messages):
            m.status, m.reason = MessageStatus.QUEUED, ""
            m.rendered_at = None
            m.segments = None if round_ % 2 else 300 + i
            m.headers = {} if round_ % 2 else {"x": "é\u2028", "n": None}
            m.subject = m.body_text = m.body_html = "" if round_ % 2 else "é 🚀 \\ \" '"
        assert rows_update(messages, CLAIM_FIELDS, status_in=["queued"]) == {m.pk for m in messages}
        for m in messages:
            s = Message.objects.get(pk=m.pk)
            assert (s.segments, s.headers, s.rendered_at, s.body_html) == (
                m.segments,
                m.headers,
                None,
                m.body_html,
            )
    # other queries on the connection are unaffected (client-side binding, no prepares)
    assert list(
        Message.objects.filter(pk__in=[m.pk for m in messages], reason="")
        .values_list("pk", flat=True)
        .order_by("pk")
    ) == [m.pk for m in messages]
    print(getattr(connection.connection, "prepare_threshold", None))
