"""channels_message's indexes after migration 0003: each lookup the app runs still has one."""

import pytest
from django.db import connection

from channels.models import Message

pytestmark = pytest.mark.django_db


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's indexes and plans")


def test_the_redundant_indexes_are_gone(postgres):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'channels_message'")
        names = {name for (name,) in cursor.fetchall()}
    assert not {name for name in names if name.endswith("_like")}
    assert "channels_message_profile_id_d928ae55" not in names
    assert {"message_provider_id", "message_trigger_event", "message_switched_from",
            "message_profile_time", "channels_message_idempotency_key_key"} <= names  # fmt: skip


@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ({"profile_id": 1}, "message_profile_time"),
        ({"provider_message_id": "SM1", "channel": "sms"}, "message_provider_id"),
        ({"idempotency_key": "k"}, "channels_message_idempotency_key_key"),
        ({"trigger_event_id__in": [1, 2]}, "message_trigger_event"),  # ON DELETE SET NULL
        ({"switched_from": 1}, "message_switched_from"),
    ],
)
def test_each_lookup_by_value_has_an_index(postgres, lookup, index):
    assert index in plan(Message.objects.filter(**lookup).order_by())


def test_a_duplicate_idempotency_key_is_still_refused(db):
    from django.db import IntegrityError, transaction

    from tests.channels.factories import MessageFactory

    MessageFactory(idempotency_key="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(idempotency_key="same")
