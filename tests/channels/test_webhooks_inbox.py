"""Twilio status callbacks accepted into Redis and applied in batches (TWILIO_STATUS_QUEUE)."""

import os
import threading
import time

import pytest
from django.db import connection
from django_q.brokers import get_broker

from channels.models import MessageStatus, ProviderEvent
from channels.webhooks import inbox
from compliance.services import is_suppressed
from tests.channels.factories import MessageFactory, SmsTemplateFactory
from tests.channels.test_webhooks_twilio import SID, assert_applied_once, post_callback

pytestmark = pytest.mark.django_db
LADDER = ["queued", "sending", "unknown", "sent", "delivered", "failed", "bounced"]
TWILIO = ["queued", "sent", "delivered", "read", "undelivered", "failed", "canceled", "mystery"]


def sms(status=MessageStatus.SENT, sid=SID, **fields):
    return MessageFactory(template=SmsTemplateFactory(), status=status, provider="twilio",
                          provider_message_id=sid, to_address="+14155550123", **fields)  # fmt: skip


def item(status, sid=SID, code="", text="", at=None):
    return [sid, status, code, text, at or time.time()]


# --- the batch apply: what applying the callbacks one by one in order would do -------------


@pytest.mark.parametrize("current", LADDER)
@pytest.mark.parametrize("twilio_status", TWILIO)
def test_a_batch_moves_a_message_only_up_the_ladder_and_stores_each_callback_once(
    current, twilio_status
):
    message = sms(current)
    error = ("30007", "Carrier filtering") if twilio_status == "undelivered" else ("", "")

    first = inbox.apply_many([item(twilio_status, code=error[0], text=error[1])] * 2)
    again = inbox.apply_many([item(twilio_status)])

    assert (first, again) == (1, 0)
    assert_applied_once(message, current, twilio_status, error)


@pytest.mark.parametrize(
    ("order", "final"),
    [
        (["sent", "delivered"], "delivered"),
        (["delivered", "sent"], "delivered"),
        (["delivered", "undelivered"], "delivered"),  # equal rank: the first received stays
        (["undelivered", "delivered"], "undelivered"),
    ],
)
def test_several_callbacks_for_one_message_in_a_batch_end_where_in_order_they_would(order, final):
    message = sms()
    inbox.apply_many([item(status) for status in order])

    message.refresh_from_db()
    assert message.provider_status == final
    assert ProviderEvent.objects.count() == 2


def test_a_batch_stamps_delivery_with_the_time_the_callback_was_received():
    message = sms()
    received = time.time() - 30
    inbox.apply_many([item("delivered", at=received)])

    message.refresh_from_db()
    assert message.delivered_at.timestamp() == pytest.approx(received, abs=0.001)


def test_a_batch_keeps_messages_apart_and_acknowledges_unknown_ones():
    a, b = sms(sid="SM" + "a" * 32), sms(sid="SM" + "b" * 32)
    stored = inbox.apply_many(
        [
            item("delivered", sid=a.provider_message_id),
            item("sent", sid=b.provider_message_id),
            item("delivered", sid="SM" + "f" * 32),
        ]  # fmt: skip
    )
    a.refresh_from_db()
    b.refresh_from_db()
    assert stored == 3
    assert (a.status, b.status) == (MessageStatus.DELIVERED, MessageStatus.SENT)
    assert ProviderEvent.objects.get(key__startswith="SM" + "f" * 32).message is None


# --- through Redis: accept, then drain -----------------------------------------------------


@pytest.fixture
def queue(settings, twilio):
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs Redis: REDIS_URL=redis://...")
    settings.REDIS_URL = url
    settings.TWILIO_STATUS_QUEUE = True
    client = inbox._redis()
    client.delete(inbox.KEY, inbox.LOCK, inbox.FAILED)
    yield client
    client.delete(inbox.KEY, inbox.LOCK, inbox.FAILED)


def test_a_queued_callback_is_answered_at_once_and_applied_by_the_drain(client, queue):
    message = sms()

    response = post_callback(client, "twilio_status_delivered.txt")

    assert response.status_code == 204
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT  # accepted, not yet applied
    assert inbox.pending() == 1
    assert inbox.drain() == 1
    message.refresh_from_db()
    assert (message.status, message.provider_status) == (MessageStatus.DELIVERED, "delivered")
    assert inbox.pending() == 0


def test_a_badly_signed_callback_is_refused_and_queues_nothing(client, queue):
    response = post_callback(client, "twilio_status_delivered.txt", signature="bm90IGl0")

    assert response.status_code == 403
    assert inbox.pending() == 0


def test_an_address_problem_is_applied_before_the_answer_not_queued(client, queue):
    message = sms()

    post_callback(client, "twilio_status_failed_30006.txt")

    message.refresh_from_db()
    assert (message.status, message.provider_error_code) == (MessageStatus.FAILED, "30006")
    assert is_suppressed(address="+14155550123", channel="sms")
    assert inbox.pending() == 0


def test_a_retried_callback_queued_twice_is_stored_once(client, queue):
    sms()
    post_callback(client, "twilio_status_delivered.txt")
    post_callback(client, "twilio_status_delivered.txt")

    assert inbox.drain() == 2  # both read from the list ...
    assert ProviderEvent.objects.count() == 1  # ... one stored


def test_a_dropped_redis_connection_is_replaced_and_the_callback_still_queued(client, queue):
    message = sms()
    post_callback(client, "twilio_status_sent.txt")
    # Redis drops every other client, as a restart or an idle timeout would.
    queue.client_kill_filter(_type="normal", skipme=True)

    assert post_callback(client, "twilio_status_delivered.txt").status_code == 204

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT  # queued, not applied in the request
    assert inbox.pending() == 2
    assert inbox.drain() == 2
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_only_the_lock_holder_drains_and_a_batch_stays_queued_until_applied(queue):
    sms()
    inbox.accept(sid=SID, status="delivered", error_code="", error_text="")
    queue.set(inbox.LOCK, "another drainer", ex=60)

    assert inbox.drain() == 0  # someone else is draining
    assert inbox.pending() == 1
    queue.delete(inbox.LOCK)  # that drainer died before trimming: the batch is still there
    assert inbox.drain() == 1
    assert inbox.pending() == 0
    assert queue.get(inbox.LOCK) is None  # released


def test_without_redis_the_callback_is_applied_in_the_request(client, settings, twilio):
    settings.TWILIO_STATUS_QUEUE = True
    settings.REDIS_URL = ""
    message = sms()

    post_callback(client, "twilio_status_delivered.txt")

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_a_drainer_that_lost_its_lock_leaves_the_list_to_the_new_holder(queue):
    sms()
    inbox.accept(sid=SID, status="delivered", error_code="", error_text="")
    assert not inbox._trim_if_ours(queue, "an expired token", 1)
    assert inbox.pending() == 1  # not trimmed: the holder will apply it


def test_a_draining_task_lingers_for_callbacks_that_follow_closely(queue):
    sms()
    inbox.accept(sid=SID, status="sent", error_code="", error_text="")

    def later():
        time.sleep(0.2)
        inbox.accept(sid=SID, status="delivered", error_code="", error_text="")

    follower = threading.Thread(target=later)
    follower.start()
    assert inbox.drain(linger=1.0) == 2  # one drain applied both
    follower.join()


def test_a_callback_the_database_refuses_is_set_aside_and_the_rest_applied(queue):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL refuses a NUL character in text; SQLite stores it")
    message = sms()
    inbox.accept(sid=SID, status="sent", error_code="", error_text="bad\x00text")
    inbox.accept(sid=SID, status="delivered", error_code="", error_text="")

    assert inbox.drain() == 2
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert inbox.pending() == 0
    assert queue.llen(inbox.FAILED) == 1  # kept for a look, not retried forever


def test_a_drain_out_of_time_leaves_the_rest_to_a_fresh_task(queue):
    sms()
    inbox.accept(sid=SID, status="delivered", error_code="", error_text="")
    tasks = get_broker().queue_size()

    assert inbox.drain(budget=0) == 0
    assert inbox.pending() == 1
    assert get_broker().queue_size() == tasks + 1  # a drain task to carry on


def test_with_redis_unreachable_the_callback_is_applied_in_the_request(client, settings, twilio):
    settings.TWILIO_STATUS_QUEUE = True
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    message = sms()

    assert post_callback(client, "twilio_status_delivered.txt").status_code == 204

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
