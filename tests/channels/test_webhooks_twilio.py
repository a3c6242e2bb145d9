from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from channels.models import MessageStatus, ProviderEvent
from channels.models.outbox import STATUS_RANK
from channels.webhooks.twilio import TWILIO_STATUSES, status_callback_apply
from compliance.services import is_suppressed
from tests.channels.factories import MessageFactory, SmsTemplateFactory
from tests.channels.helpers import fixture_text

pytestmark = pytest.mark.django_db
PATH = "/webhooks/twilio/status/"
SID = "SM0123456789abcdef0123456789abcdef"


@pytest.fixture
def sent_sms(twilio, person):
    return MessageFactory(
        profile=person,
        template=SmsTemplateFactory(),
        to_address="+14155550123",
        status=MessageStatus.SENT,
        provider="twilio",
        provider_message_id=SID,
    )


def post_callback(client, fixture, *, token="primary-token", signature=None):
    body = fixture_text(fixture)
    params = dict(parse_qsl(body))
    if signature is None:
        url = f"https://tandem.example.com{PATH}"
        signature = RequestValidator(token).compute_signature(url, params)
    return client.post(
        PATH,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


def test_a_signed_delivered_callback_moves_the_sms_to_delivered(client, sent_sms):
    response = post_callback(client, "twilio_status_delivered.txt")

    assert response.status_code == 204
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.provider_status) == (MessageStatus.DELIVERED, "delivered")
    assert sent_sms.delivered_at is not None


def test_a_callback_signed_with_the_secondary_token_is_accepted(client, sent_sms):
    response = post_callback(client, "twilio_status_delivered.txt", token="secondary-token")

    assert response.status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_an_unsigned_or_badly_signed_callback_is_refused_and_changes_nothing(
    client, sent_sms, signature
):
    response = post_callback(client, "twilio_status_delivered.txt", signature=signature)

    assert response.status_code == 403
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.SENT
    assert ProviderEvent.objects.count() == 0


def test_a_callback_signed_with_another_token_is_refused(client, sent_sms):
    response = post_callback(client, "twilio_status_delivered.txt", token="someone-else")
    assert response.status_code == 403


def test_a_late_sent_never_moves_a_delivered_sms_back(client, sent_sms):
    post_callback(client, "twilio_status_delivered.txt")

    response = post_callback(client, "twilio_status_sent.txt")

    assert response.status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == MessageStatus.DELIVERED


def test_a_repeated_callback_is_processed_once(client, sent_sms):
    post_callback(client, "twilio_status_delivered.txt")
    response = post_callback(client, "twilio_status_delivered.txt")

    assert response.status_code == 204
    assert ProviderEvent.objects.filter(provider="twilio").count() == 1


def test_carrier_filtering_30007_is_recorded_without_touching_the_address(client, sent_sms):
    post_callback(client, "twilio_status_undelivered_30007.txt")

    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.provider_error_code) == (MessageStatus.FAILED, "30007")
    assert not is_suppressed(address="+14155550123", channel="sms")


def test_a_landline_failure_30006_marks_the_number_undeliverable(client, sent_sms):
    post_callback(client, "twilio_status_failed_30006.txt")

    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.provider_error_code) == (MessageStatus.FAILED, "30006")
    assert is_suppressed(address="+14155550123", channel="sms")


def test_a_callback_for_an_unknown_message_is_acknowledged(client, twilio):
    response = post_callback(client, "twilio_status_delivered.txt")

    assert response.status_code == 204
    assert ProviderEvent.objects.get().message is None


LADDER = ["queued", "sending", "unknown", "sent", "delivered", "failed", "bounced"]
TWILIO = ["queued", "sent", "delivered", "read", "undelivered", "failed", "canceled", "mystery"]


@pytest.mark.parametrize("current", LADDER)
@pytest.mark.parametrize("twilio_status", TWILIO)
def test_a_callback_moves_a_message_only_up_the_ladder_and_only_once(current, twilio_status):
    message = MessageFactory(
        template=SmsTemplateFactory(), status=current, provider="twilio", provider_message_id=SID
    )
    error = ("30007", "Carrier filtering") if twilio_status == "undelivered" else ("", "")

    first = status_callback_apply(
        sid=SID, status=twilio_status, error_code=error[0], error_text=error[1]
    )
    again = status_callback_apply(sid=SID, status=twilio_status, error_code="", error_text="")

    assert (first, again) == (True, False)
    assert_applied_once(message, current, twilio_status, error)


def assert_applied_once(message, current: str, twilio_status: str, error: tuple) -> None:
    """One stored callback; the message moved to its status only if that was up the ladder."""
    ours = TWILIO_STATUSES.get(twilio_status)
    moves = ours is not None and current in STATUS_RANK and STATUS_RANK[ours] > STATUS_RANK[current]
    message.refresh_from_db()
    assert ProviderEvent.objects.get().key == f"{SID}:{twilio_status}"
    assert ProviderEvent.objects.get().message_id == message.pk
    if moves:
        assert (message.status, message.provider_status) == (ours, twilio_status)
        assert (message.provider_error_code, message.provider_error_text) == error
        assert (message.delivered_at is not None) == (ours == MessageStatus.DELIVERED)
    else:
        assert (message.status, message.provider_status, message.delivered_at) == (
            current, "", None)  # fmt: skip
