import json
import uuid
from urllib.parse import parse_qs

import pytest
import requests
import responses
import time_machine

from channels.adapters import DeliveryError, adapter_for
from channels.adapters.console import ConsoleEmailAdapter, ConsoleSmsAdapter
from channels.adapters.email import EmailAdapter
from channels.adapters.ratelimit import acquire
from channels.adapters.twilio_sms import TwilioSmsAdapter
from tests.channels.factories import MessageFactory, SmsTemplateFactory
from tests.channels.helpers import TWILIO_MESSAGES_URL, fixture_json

pytestmark = pytest.mark.django_db

POSTMARK_URL = "https://api.postmarkapp.com/email"
MAILGUN_URL = "https://api.mailgun.net/v3/example.com/messages"


@pytest.fixture
def sms(db):
    return MessageFactory(
        template=SmsTemplateFactory(), to_address="+14155550123", body_text="TandemShop: hi"
    )


@pytest.fixture
def email(db):
    return MessageFactory(
        to_address="ada@example.com",
        subject="Hello Ada",
        body_text="Hi Ada",
        body_html="<p>Hi Ada</p>",
        headers={"List-Unsubscribe": "<https://tandem.example.com/unsubscribe/t/>"},
    )


def test_without_credentials_both_channels_use_console_adapters(console_adapters):
    assert isinstance(adapter_for("email"), ConsoleEmailAdapter)
    assert isinstance(adapter_for("sms"), ConsoleSmsAdapter)


def test_with_credentials_the_configured_adapters_serve(twilio, settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    assert isinstance(adapter_for("email"), EmailAdapter)
    assert isinstance(adapter_for("sms"), TwilioSmsAdapter)


def test_console_adapter_sends_nothing_and_returns_an_id(sms):
    result = ConsoleSmsAdapter().send(sms)
    assert result.provider == "console"
    assert result.provider_message_id.startswith("console-")


@responses.activate
def test_twilio_send_uses_the_messaging_service_and_status_callback(twilio, sms):
    responses.post(
        TWILIO_MESSAGES_URL, json=fixture_json("twilio_message_created.json"), status=201
    )

    result = TwilioSmsAdapter().send(sms)

    assert (result.provider, result.provider_message_id, result.provider_status) == (
        "twilio",
        "SM0123456789abcdef0123456789abcdef",
        "accepted",
    )
    sent = parse_qs(responses.calls[0].request.body)
    assert sent == {
        "To": ["+14155550123"],
        "Body": ["TandemShop: hi"],
        "MessagingServiceSid": ["MG" + "2" * 32],
        "StatusCallback": ["https://tandem.example.com/webhooks/twilio/status/"],
    }


@responses.activate
def test_twilio_send_from_a_number_when_no_messaging_service(twilio, sms):
    twilio.TWILIO_MESSAGING_SERVICE_SID = ""
    twilio.TWILIO_FROM_NUMBER = "+14155559999"
    responses.post(
        TWILIO_MESSAGES_URL, json=fixture_json("twilio_message_created.json"), status=201
    )

    TwilioSmsAdapter().send(sms)

    sent = parse_qs(responses.calls[0].request.body)
    assert sent["From"] == ["+14155559999"]
    assert "MessagingServiceSid" not in sent


def test_twilio_client_has_an_explicit_timeout(twilio):
    twilio.PROVIDER_TIMEOUT_SECONDS = 7.5
    assert TwilioSmsAdapter().client().http_client.timeout == 7.5


@pytest.mark.parametrize(
    ("fixture", "status", "code", "permanent", "problem"),
    [
        ("twilio_error_21610.json", 400, "21610", True, "carrier_opt_out"),
        ("twilio_error_21211.json", 400, "21211", True, "invalid_address"),
        ("twilio_error_20429.json", 429, "20429", False, ""),
    ],
)
@responses.activate
def test_twilio_errors_are_sorted_into_retry_or_terminal(
    twilio, sms, fixture, status, code, permanent, problem
):
    responses.post(TWILIO_MESSAGES_URL, json=fixture_json(fixture), status=status)

    with pytest.raises(DeliveryError) as caught:
        TwilioSmsAdapter().send(sms)

    error = caught.value
    assert (error.code, error.permanent, error.address_problem) == (code, permanent, problem)
    assert error.ambiguous is False


@responses.activate
def test_twilio_server_error_is_transient(twilio, sms):
    responses.post(TWILIO_MESSAGES_URL, body="Service Unavailable", status=503)
    with pytest.raises(DeliveryError) as caught:
        TwilioSmsAdapter().send(sms)
    assert (caught.value.code, caught.value.permanent) == ("http_503", False)


@responses.activate
def test_twilio_connect_failure_retries_but_read_timeout_is_ambiguous(twilio, sms):
    responses.post(TWILIO_MESSAGES_URL, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(DeliveryError) as caught:
        TwilioSmsAdapter().send(sms)
    assert (caught.value.permanent, caught.value.ambiguous) == (False, False)

    responses.replace(responses.POST, TWILIO_MESSAGES_URL, body=requests.ReadTimeout("read"))
    with pytest.raises(DeliveryError) as caught:
        TwilioSmsAdapter().send(sms)
    assert (caught.value.code, caught.value.ambiguous) == ("timeout", True)


@responses.activate
def test_postmark_send_through_anymail_returns_the_esp_message_id(settings, email):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "server-token"}
    responses.post(POSTMARK_URL, json=fixture_json("postmark_send_ok.json"), status=200)

    result = EmailAdapter().send(email)

    assert (result.provider, result.provider_message_id, result.provider_status) == (
        "postmark",
        "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
        "sent",
    )
    payload = json.loads(responses.calls[0].request.body)
    assert payload["To"] == "ada@example.com"
    assert payload["HtmlBody"] == "<p>Hi Ada</p>"
    assert payload["Metadata"] == {"tandem_message_id": str(email.pk)}
    assert {"Name": "List-Unsubscribe", "Value": "<https://tandem.example.com/unsubscribe/t/>"} in (
        payload["Headers"]
    )


@responses.activate
def test_postmark_inactive_recipient_is_a_permanent_address_problem(settings, email):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "server-token"}
    responses.post(POSTMARK_URL, json=fixture_json("postmark_send_inactive.json"), status=422)

    with pytest.raises(DeliveryError) as caught:
        EmailAdapter().send(email)

    error = caught.value
    assert (error.code, error.permanent, error.address_problem) == (
        "rejected",
        True,
        "invalid_address",
    )


@responses.activate
def test_mailgun_send_through_anymail_returns_mailguns_id(settings, email):
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {"MAILGUN_API_KEY": "key-test"}
    responses.post(MAILGUN_URL, json=fixture_json("mailgun_send_ok.json"), status=200)

    result = EmailAdapter().send(email)

    assert (result.provider, result.provider_message_id) == (
        "mailgun",
        "<20260310150001.1.DF5966851B4BAA99@example.com>",
    )
    body = parse_qs(responses.calls[0].request.body)
    assert body["v:tandem_message_id"] == [str(email.pk)]
    assert body["h:List-Unsubscribe"] == ["<https://tandem.example.com/unsubscribe/t/>"]


@responses.activate
def test_mailgun_server_error_is_transient_and_bad_request_permanent(settings, email):
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {"MAILGUN_API_KEY": "key-test"}
    responses.post(MAILGUN_URL, json={"message": "Internal error"}, status=500)
    with pytest.raises(DeliveryError) as caught:
        EmailAdapter().send(email)
    assert (caught.value.code, caught.value.permanent) == ("http_500", False)

    responses.replace(
        responses.POST, MAILGUN_URL, json={"message": "'from' parameter is missing"}, status=400
    )
    with pytest.raises(DeliveryError) as caught:
        EmailAdapter().send(email)
    assert (caught.value.code, caught.value.permanent) == ("http_400", True)


def test_smtp_style_backend_gets_our_own_message_id(settings, mailoutbox, email):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    result = EmailAdapter().send(email)

    assert result.provider_message_id.endswith("@tandem.example.com>")
    assert mailoutbox[0].extra_headers["Message-ID"] == result.provider_message_id
    assert mailoutbox[0].extra_headers["List-Unsubscribe"] == (
        "<https://tandem.example.com/unsubscribe/t/>"
    )


def test_rate_limit_lets_the_rate_through_then_refuses_past_the_wait(settings):
    sender = f"sender-{uuid.uuid4()}"  # the cache may be a shared Redis
    with time_machine.travel("2026-03-10T15:00:00.100Z", tick=False):  # inside one slot
        for _ in range(3):
            acquire(sender, 3.0, max_wait=0)
        with pytest.raises(DeliveryError) as caught:
            acquire(sender, 3.0, max_wait=0)
        assert (caught.value.code, caught.value.permanent) == ("rate_limited", False)
        acquire(f"{sender}-other", 3.0, max_wait=0)  # another sender has its own budget
