import base64
import hashlib
import hmac
import json

import pytest

from channels.models import MessageStatus, ProviderEvent
from compliance.models import ConsentEvent, Suppression
from compliance.services import consent_status
from profiles.models import Event
from tests.channels.factories import MessageFactory
from tests.channels.helpers import FIXTURES

pytestmark = pytest.mark.django_db
PATH = "/webhooks/anymail/mailgun/tracking/"
SIGNING_KEY = "mailgun-signing-key"
MESSAGE_ID = "<20260310150001.1.DF5966851B4BAA99@example.com>"


@pytest.fixture(autouse=True)
def mailgun(settings):
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY, "WEBHOOK_SECRET": "esp:s3cret"}


@pytest.fixture
def sent_email(person):
    return MessageFactory(
        profile=person,
        to_address="ada@example.com",
        status=MessageStatus.SENT,
        provider="mailgun",
        provider_message_id=MESSAGE_ID,
    )


def signed(name: str, message) -> str:
    """A real Mailgun payload with our message id, signed as Mailgun signs it."""
    text = (FIXTURES / name).read_text().replace("__MESSAGE__", str(message.pk))
    data = json.loads(text)
    block = data["signature"]
    block["signature"] = hmac.new(
        SIGNING_KEY.encode(), (block["timestamp"] + block["token"]).encode(), hashlib.sha256
    ).hexdigest()
    return json.dumps(data)


def post_event(client, name, message, *, secret="esp:s3cret"):
    auth = "Basic " + base64.b64encode(secret.encode()).decode()
    return client.post(
        PATH,
        data=signed(name, message),
        content_type="application/json",
        headers={"Authorization": auth},
    )


def events(name):
    return list(Event.objects.filter(name=name).values_list("channel", "properties"))


def test_delivered_moves_the_message_and_lands_on_the_timeline(client, sent_email):
    assert post_event(client, "mailgun_delivered.json", sent_email).status_code == 200

    sent_email.refresh_from_db()
    assert sent_email.status == MessageStatus.DELIVERED
    [(channel, properties)] = events("delivered")
    assert channel == "email"
    assert properties["message_id"] == sent_email.pk


def test_a_repeated_event_is_processed_once(client, sent_email):
    post_event(client, "mailgun_delivered.json", sent_email)
    post_event(client, "mailgun_delivered.json", sent_email)

    assert ProviderEvent.objects.count() == 1
    assert len(events("delivered")) == 1


def test_wrong_basic_auth_is_refused_and_changes_nothing(client, sent_email):
    response = post_event(client, "mailgun_delivered.json", sent_email, secret="esp:wrong")

    assert response.status_code == 400
    sent_email.refresh_from_db()
    assert sent_email.status == MessageStatus.SENT
    assert ProviderEvent.objects.count() == 0


def test_a_permanent_bounce_suppresses_the_address(client, sent_email):
    post_event(client, "mailgun_failed_permanent.json", sent_email)

    sent_email.refresh_from_db()
    assert (sent_email.status, sent_email.provider_error_code) == ("bounced", "bounced")
    suppression = Suppression.objects.get(address="ada@example.com")
    assert (suppression.channel, suppression.reason) == ("email", "hard_bounce")
    assert len(events("bounced")) == 1


def test_a_human_open_stamps_the_message_and_is_not_flagged(client, sent_email):
    post_event(client, "mailgun_opened.json", sent_email)

    sent_email.refresh_from_db()
    assert sent_email.opened_at is not None
    [(channel, properties)] = events("opened")
    assert (channel, properties["machine_open"]) == ("email", False)


def test_a_click_records_the_url(client, sent_email):
    post_event(client, "mailgun_clicked.json", sent_email)

    sent_email.refresh_from_db()
    assert sent_email.clicked_at is not None
    [(_, properties)] = events("clicked")
    assert properties["url"] == "https://shop.example.com/sale"


def test_a_complaint_opts_out_and_suppresses_marketing_email(client, sent_email, person):
    post_event(client, "mailgun_complained.json", sent_email)

    ledger = ConsentEvent.objects.get(source="complaint")
    assert (ledger.action, ledger.channel, ledger.address) == (
        "opt_out",
        "email",
        "ada@example.com",
    )
    assert Suppression.objects.get(address="ada@example.com").reason == "complaint"
    assert consent_status(profile=person, channel="email") == "unsubscribed"
    assert len(events("complained")) == 1


def test_an_esp_unsubscribe_opts_the_person_out_of_email_only(client, sent_email, person):
    post_event(client, "mailgun_unsubscribed.json", sent_email)

    ledger = ConsentEvent.objects.get(source="esp_unsubscribe")
    assert (ledger.action, ledger.channel) == ("opt_out", "email")
    assert consent_status(profile=person, channel="email") == "unsubscribed"
    assert consent_status(profile=person, channel="sms") == "subscribed"
    assert len(events("unsubscribed")) == 1


def test_an_open_the_esp_marks_as_machine_made_is_flagged_and_not_stamped(client, settings, person):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp:s3cret"}
    message = MessageFactory(
        profile=person,
        to_address="ada@example.com",
        status=MessageStatus.SENT,
        provider="sendgrid",
        provider_message_id="44920b35-3e31-478b-bb67-b4f5e0c85ebc",
    )
    # SendGrid's open event; sg_machine_open marks Apple Mail Privacy Protection prefetches.
    raw = [
        {
            "email": "ada@example.com",
            "timestamp": 1773155600,
            "ip": "66.102.6.229",
            "sg_event_id": "MjIwNDg5NTgtZGE3OC00NDI1LWFiMmMtMDUyZTU2ZmFkOTFm",
            "sg_message_id": "wrfRRvF7Q0GgwUo2CvDmEA.filter0425p1mdw1.13037.57168B4A1D.0",
            "anymail_id": "44920b35-3e31-478b-bb67-b4f5e0c85ebc",
            "useragent": "Mozilla/5.0",
            "sg_machine_open": True,
            "event": "open",
        }
    ]
    auth = "Basic " + base64.b64encode(b"esp:s3cret").decode()
    response = client.post(
        "/webhooks/anymail/sendgrid/tracking/",
        data=json.dumps(raw),
        content_type="application/json",
        headers={"Authorization": auth},
    )

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.opened_at is None
    [(_, properties)] = events("opened")
    assert properties["machine_open"] is True
