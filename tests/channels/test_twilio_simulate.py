"""`manage.py twilio_simulate`: Twilio's signed requests, over real HTTP, to a running server."""

import pytest
from django.core.management import CommandError, call_command

from channels.management.commands.twilio_simulate import post_signed
from channels.models import Message, MessageStatus
from channels.services import dispatch, message_create
from compliance.services import consent_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def topics(seeded_topics):
    return seeded_topics


@pytest.fixture
def server(settings, live_server, console_adapters, daytime):
    settings.TWILIO_AUTH_TOKEN = "demo-token"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def sent_sms(person, sms_template) -> Message:
    message = message_create(profile=person, template=sms_template, idempotency_key="sim:1")
    message = dispatch(message=message)
    assert message.status == MessageStatus.SENT
    return message


def test_status_callback_moves_the_sms_to_delivered(server, person, sms_template, capsys):
    message = sent_sms(person, sms_template)

    call_command("twilio_simulate", "status", str(message.pk), "delivered")

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert message.delivered_at is not None
    assert "-> 204" in capsys.readouterr().out


def test_a_wrong_token_is_refused_like_a_forgery(server, person, sms_template):
    message = sent_sms(person, sms_template)
    fields = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered"}

    code, _ = post_signed(f"{server.url}/webhooks/twilio/status/", fields, "not-the-token")

    assert code == 403
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_inbound_stop_opts_the_number_out(server, person):
    call_command("twilio_simulate", "inbound", "+14155550123", "STOP")

    assert consent_status(profile=person, channel="sms") == "unsubscribed"


def test_unknown_message_is_a_clear_error(server):
    with pytest.raises(CommandError, match="No SMS with id 999"):
        call_command("twilio_simulate", "status", "999", "delivered")


def test_no_token_is_a_clear_error(settings):
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(CommandError, match="TWILIO_AUTH_TOKEN is not set"):
        call_command("twilio_simulate", "inbound", "+14155550123", "STOP")
