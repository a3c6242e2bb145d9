"""The one-statement status callback checks its connection like Django's cursors do
(CONN_HEALTH_CHECKS): a connection the server dropped is replaced, not a 500."""

import psycopg
import pytest
from django.db import connection

from channels.models import Message, MessageStatus
from channels.webhooks.twilio import status_callback_apply
from tests.channels.factories import MessageFactory, SmsTemplateFactory

SID = "SM0123456789abcdef0123456789abcdef"
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded_topics")]


def drop_our_connection_server_side():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"], port=s["PORT"] or 5432, user=s["USER"], dbname=s["NAME"], autocommit=True
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.close_if_unusable_or_obsolete()  # what request_started does


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
def test_a_status_callback_after_the_server_dropped_the_connection_is_applied():
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    message = MessageFactory(
        template=SmsTemplateFactory(),
        status=MessageStatus.SENT,
        provider="twilio",
        provider_message_id=SID,
    )
    drop_our_connection_server_side()

    assert status_callback_apply(sid=SID, status="delivered", error_code="", error_text="")
    assert Message.objects.get(pk=message.pk).status == "delivered"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
def test_control_an_orm_query_after_the_same_drop_reconnects():
    drop_our_connection_server_side()
    assert Message.objects.count() == 0
