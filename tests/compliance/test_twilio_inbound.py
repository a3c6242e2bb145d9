"""POST /webhooks/twilio/inbound/: signed by Twilio, once per MessageSid, keywords act."""

from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from django.http import QueryDict
from django.urls import reverse
from twilio.request_validator import RequestValidator

from compliance.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    DisclosureText,
    InboundSms,
    KeywordReview,
    Subscription,
    Suppression,
)
from compliance.services import consent_record, consent_status, is_suppressed
from profiles.models import Event, Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

URL = reverse("compliance_webhooks:twilio_inbound")
TOKEN = "primary-auth-token-0123456789abcdef"
NEXT_TOKEN = "secondary-auth-token-fedcba9876543210"
OUR_NUMBER = "+14155550100"
PERSON = "+14155550123"
STRANGER = "+14155550188"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.PUBLIC_BASE_URL = "https://tandem.example.com"
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_AUTH_TOKEN_SECONDARY = ""
    settings.SMS_CONFIRMATION_OWNER = "twilio"
    settings.SMS_BRAND_NAME = "TandemShop"
    settings.SMS_HELP_CONTACT = "help@tandem.example"
    settings.SMS_MESSAGE_FREQUENCY = "Up to 6 msgs/month"
    settings.SMS_PROGRAM_NAME = "offers and order updates"
    return settings


def text(body: str, *, sid: str = "SM00000000000000000000000000000001", sender: str = PERSON):
    """The fields Twilio posts for an inbound SMS, in its order."""
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "SAN FRANCISCO",
        "FromZip": "94103",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": OUR_NUMBER,
        "ToZip": "94105",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC00000000000000000000000000000000",
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def sign(params, *, token: str = TOKEN, path: str = URL) -> str:
    return RequestValidator(token).compute_signature("https://tandem.example.com" + path, params)


def deliver(client, params, *, token: str = TOKEN, path: str = URL, signature=None):
    signature = sign(params, token=token, path=path) if signature is None else signature
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def messages(response) -> list[str]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    return [element.text for element in root.findall("Message")]


def subscribed(phone: str = PERSON) -> Profile:
    profile = ProfileFactory(phone=phone)
    consent_record(
        profile=profile, channel="sms", action=ConsentAction.OPT_IN, source=ConsentSource.API
    )
    return profile


def nothing_stored() -> bool:
    return not (
        InboundSms.objects.exists()
        or Event.objects.exists()
        or Suppression.objects.exists()
        or KeywordReview.objects.exists()
        or ConsentEvent.objects.exclude(source=ConsentSource.API).exists()
    )


# --- the signature ---------------------------------------------------------------------------


def test_a_stop_signed_with_the_wrong_token_is_refused_and_changes_nothing(client):
    profile = subscribed()

    response = deliver(client, text("STOP"), token="not-our-token")

    assert response.status_code == 403
    assert nothing_stored()
    assert consent_status(profile=profile, channel="sms") == "subscribed"


def test_a_request_without_a_signature_is_refused_and_changes_nothing(client):
    profile = subscribed()

    response = deliver(client, text("STOP"), signature="")

    assert response.status_code == 403
    assert nothing_stored()
    assert consent_status(profile=profile, channel="sms") == "subscribed"


def test_a_body_changed_after_signing_is_refused(client):
    profile = subscribed()
    signed_for_hello = sign(text("hello"))

    response = deliver(client, text("STOP"), signature=signed_for_hello)

    assert response.status_code == 403
    assert nothing_stored()
    assert consent_status(profile=profile, channel="sms") == "subscribed"


def test_a_signature_over_another_host_is_refused(client):
    params = text("STOP")
    signature = RequestValidator(TOKEN).compute_signature("https://evil.example" + URL, params)

    response = deliver(client, params, signature=signature)

    assert response.status_code == 403
    assert nothing_stored()


def test_without_a_configured_token_every_request_is_refused(client, twilio_settings):
    twilio_settings.TWILIO_AUTH_TOKEN = ""

    response = deliver(client, text("STOP"), token="")

    assert response.status_code == 403
    assert nothing_stored()


def test_the_secondary_token_is_accepted_during_rotation(client, twilio_settings):
    twilio_settings.TWILIO_AUTH_TOKEN_SECONDARY = NEXT_TOKEN

    response = deliver(client, text("hello"), token=NEXT_TOKEN)

    assert messages(response) == []
    assert InboundSms.objects.get().body == "hello"


def test_the_signature_covers_the_query_string_of_the_url(client):
    path = URL + "?source=us%20long%20code&v=2"
    params = text("STOP")

    unsigned_query = deliver(client, params, path=path, signature=sign(params))
    signed_query = deliver(client, params, path=path)

    assert unsigned_query.status_code == 403
    assert messages(signed_query) == []
    assert InboundSms.objects.get().kind == "opt_out"


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_a_signed_request_without_message_sid_is_rejected_and_changes_nothing(client):
    params = text("STOP")
    del params["MessageSid"]

    response = deliver(client, params)

    assert response.status_code == 400
    assert nothing_stored()


def test_twilios_real_inbound_payload_is_verified_and_acted_on(client):
    raw = (FIXTURES / "twilio_inbound_sms.txt").read_text()
    params = QueryDict(raw)
    profile = subscribed(phone="+14155550177")

    response = client.post(
        URL,
        data=raw,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign(params)},
    )

    assert messages(response) == []
    assert consent_status(profile=profile, channel="sms") == "unsubscribed"
    inbound = InboundSms.objects.get()
    assert (inbound.message_sid, inbound.from_number, inbound.to_number, inbound.body) == (
        "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "+14155550177",
        "+14155550100",
        "Stop",
    )


# --- opt-out ---------------------------------------------------------------------------------


def test_stop_from_a_known_number_unsubscribes_it_with_the_message_on_the_ledger(client):
    profile = subscribed()

    response = deliver(client, text("Stop.", sid="SM-stop-1"))

    assert messages(response) == []  # Twilio owns the confirmation by default
    assert consent_status(profile=profile, channel="sms") == "unsubscribed"
    event = ConsentEvent.objects.get(source=ConsentSource.SMS_KEYWORD)
    assert (event.profile, event.action, event.address) == (profile, "opt_out", PERSON)
    assert event.idempotency_key == "twilio-inbound:SM-stop-1"
    assert event.evidence == {
        "body": "Stop.",
        "keyword": "STOP",
        "normalised": "STOP",
        "kind": "opt_out",
        "message_sid": "SM-stop-1",
        "from": PERSON,
        "to": OUR_NUMBER,
    }
    assert is_suppressed(address=PERSON, channel="sms")
    inbound = InboundSms.objects.get()
    assert (inbound.profile, inbound.kind, inbound.outcome) == (profile, "opt_out", "opted out")


def test_stop_revokes_every_topic_of_the_number(client):
    profile = subscribed()

    deliver(client, text("STOPALL"))

    assert consent_status(profile=profile, channel="sms", topic=None) == "unsubscribed"
    assert list(Subscription.objects.values_list("status", flat=True)) == ["unsubscribed"]


def test_an_opt_out_by_intent_revokes_at_once(client):
    profile = subscribed()

    deliver(client, text("please stop texting me"))

    assert consent_status(profile=profile, channel="sms") == "unsubscribed"
    event = ConsentEvent.objects.get(source=ConsentSource.SMS_KEYWORD)
    assert (event.evidence["kind"], event.evidence["keyword"]) == ("opt_out_intent", "STOP")


def test_stop_from_an_unknown_number_suppresses_the_address_until_the_person_says_start(client):
    response = deliver(client, text("STOP", sid="SM-stranger-stop", sender=STRANGER))

    assert messages(response) == []
    assert is_suppressed(address=STRANGER, channel="sms")
    event = ConsentEvent.objects.get()
    assert (event.profile, event.address, event.source) == (None, STRANGER, "sms_keyword")
    assert not Profile.objects.exists()

    imported = ProfileFactory(phone=STRANGER)
    for source in (ConsentSource.IMPORT, ConsentSource.API):
        claim = consent_record(profile=imported, channel="sms", action="opt_in", source=source)
        assert claim.applied is False
    assert is_suppressed(address=STRANGER, channel="sms")
    assert consent_status(profile=imported, channel="sms") == "never"

    deliver(client, text("START", sid="SM-stranger-start", sender=STRANGER))

    assert not is_suppressed(address=STRANGER, channel="sms")
    assert consent_status(profile=imported, channel="sms") == "subscribed"


def test_a_retried_delivery_changes_nothing_and_answers_the_same_way(client):
    profile = subscribed()
    params = text("STOP", sid="SM-retried")

    first = deliver(client, params)
    second = deliver(client, params)

    assert first.content == second.content
    assert InboundSms.objects.count() == 1
    assert ConsentEvent.objects.filter(source=ConsentSource.SMS_KEYWORD).count() == 1
    assert Suppression.objects.count() == 1
    assert consent_status(profile=profile, channel="sms") == "unsubscribed"


def test_a_retried_reply_is_one_event(client):
    params = text("what time do you open?", sid="SM-retried-reply")

    deliver(client, params)
    deliver(client, params)

    assert Event.objects.filter(name="sms_replied").count() == 1


# --- unclear and ordinary replies ------------------------------------------------------------


def test_an_unclear_reply_opens_a_review_and_opts_nothing_out(client):
    profile = subscribed()

    response = deliver(client, text("can't stop smiling", sid="SM-smile"))

    assert messages(response) == []
    review = KeywordReview.objects.get()
    assert (review.address, review.profile, review.status) == (PERSON, profile, "open")
    assert review.inbound.message_sid == "SM-smile"
    assert consent_status(profile=profile, channel="sms") == "subscribed"
    assert not ConsentEvent.objects.filter(source=ConsentSource.SMS_KEYWORD).exists()
    assert not Suppression.objects.exists()
    assert not Event.objects.exists()


def test_a_clear_stop_settles_an_open_review(client):
    profile = subscribed()
    deliver(client, text("can't stop smiling", sid="SM-smile"))

    deliver(client, text("STOP", sid="SM-stop"))

    review = KeywordReview.objects.get()
    assert review.status == "opted_out"
    assert review.note == "superseded by STOP (SM-stop)"
    assert review.reviewed_by is None
    assert consent_status(profile=profile, channel="sms") == "unsubscribed"


def test_stopwatch_is_just_a_reply_on_the_timeline(client):
    profile = subscribed()

    response = deliver(client, text("stopwatch", sid="SM-watch"))

    assert messages(response) == []
    event = Event.objects.get()
    assert (event.profile, event.name, event.channel) == (profile, "sms_replied", "sms")
    assert event.properties == {"body": "stopwatch", "message_sid": "SM-watch", "to": OUR_NUMBER}
    assert not KeywordReview.objects.exists()
    assert consent_status(profile=profile, channel="sms") == "subscribed"
    assert ConsentEvent.objects.count() == 1  # the opt-in from the setup only


def test_a_reply_from_an_unknown_number_creates_a_profile_without_consent(client):
    deliver(client, text("Is the sale still on?", sender=STRANGER))

    profile = Profile.objects.get()
    assert str(profile.phone) == STRANGER
    assert consent_status(profile=profile, channel="sms") == "never"
    assert Event.objects.get().profile == profile
    assert not ConsentEvent.objects.exists()


# --- opt-in and YES ------------------------------------------------------------------------


def test_start_opts_an_opted_out_number_back_in(client):
    profile = subscribed()
    deliver(client, text("STOP", sid="SM-1"))

    response = deliver(client, text("unstop", sid="SM-2"))

    assert messages(response) == []
    assert consent_status(profile=profile, channel="sms") == "subscribed"
    assert not is_suppressed(address=PERSON, channel="sms")
    event = ConsentEvent.objects.get(idempotency_key="twilio-inbound:SM-2")
    assert (event.action, event.source, event.applied) == ("opt_in", "sms_keyword", True)


def test_yes_with_nothing_pending_changes_nothing(client):
    profile = ProfileFactory(phone=PERSON)

    response = deliver(client, text("Yes", sid="SM-yes"))

    assert messages(response) == []
    assert consent_status(profile=profile, channel="sms") == "never"
    assert not ConsentEvent.objects.exists()
    assert InboundSms.objects.get().outcome == "recorded as a reply"
    assert Event.objects.get().name == "sms_replied"


def test_yes_confirms_a_pending_double_opt_in(client):
    profile = ProfileFactory(phone=PERSON)
    disclosure = DisclosureText.objects.create(
        key="signup-sms", version=3, channel="sms", text="Reply YES to get offers."
    )
    pending = consent_record(profile=profile, channel="sms", action="pending",
                             source=ConsentSource.SIGNUP_FORM, disclosure=disclosure)  # fmt: skip

    deliver(client, text("Y", sid="SM-confirm"))

    assert consent_status(profile=profile, channel="sms") == "subscribed"
    event = ConsentEvent.objects.get(idempotency_key="twilio-inbound:SM-confirm")
    assert (event.action, event.source, event.disclosure) == ("opt_in", "double_opt_in", disclosure)
    assert event.evidence["message_sid"] == "SM-confirm"
    assert event.evidence["pending_event"] == pending.pk
    assert Subscription.objects.get(profile=profile).source == "double_opt_in"
    # Not a reply: the only event is the "Subscribed" that starts welcome journeys.
    assert list(Event.objects.values_list("name", flat=True)) == ["Subscribed"]


def test_yes_resubscribes_an_opted_out_number(client):
    profile = subscribed()
    deliver(client, text("STOP", sid="SM-1"))

    deliver(client, text("YES", sid="SM-2"))

    assert consent_status(profile=profile, channel="sms") == "subscribed"
    assert not is_suppressed(address=PERSON, channel="sms")
    assert InboundSms.objects.get(message_sid="SM-2").outcome == "re-subscribed by YES"


# --- HELP and confirmations ------------------------------------------------------------------


@pytest.mark.parametrize("owner", ["twilio", "app"])
def test_help_is_answered_by_the_app_and_changes_nothing(client, twilio_settings, owner):
    twilio_settings.SMS_CONFIRMATION_OWNER = owner
    profile = subscribed()

    response = deliver(client, text("help"))

    assert messages(response) == [
        "TandemShop: Help at help@tandem.example. Up to 6 msgs/month. "
        "Msg & data rates may apply. Reply STOP to cancel."
    ]
    assert consent_status(profile=profile, channel="sms") == "subscribed"
    assert ConsentEvent.objects.count() == 1
    assert not Event.objects.exists()


def test_help_is_answered_for_an_unknown_number_too(client):
    reply = messages(deliver(client, text("INFO", sender=STRANGER)))

    assert len(reply) == 1 and "Reply STOP to cancel" in reply[0]
    assert not Profile.objects.exists()


def test_when_the_app_owns_confirmations_stop_gets_exactly_one(client, twilio_settings):
    twilio_settings.SMS_CONFIRMATION_OWNER = "app"
    subscribed()

    reply = messages(deliver(client, text("STOP")))

    assert reply == [
        "TandemShop: You are unsubscribed and will get no more messages. "
        "Reply START to resubscribe."
    ]


def test_when_the_app_owns_confirmations_start_gets_exactly_one(client, twilio_settings):
    twilio_settings.SMS_CONFIRMATION_OWNER = "app"
    subscribed()
    deliver(client, text("STOP", sid="SM-1"))

    reply = messages(deliver(client, text("START", sid="SM-2")))

    assert reply == [
        "TandemShop: You are subscribed to offers and order updates. Up to 6 msgs/month. "
        "Msg & data rates may apply. Reply HELP for help, STOP to cancel."
    ]


def test_when_the_app_owns_confirmations_an_ordinary_reply_gets_none(client, twilio_settings):
    twilio_settings.SMS_CONFIRMATION_OWNER = "app"

    assert messages(deliver(client, text("thanks!"))) == []
    assert messages(deliver(client, text("Yes", sid="SM-yes"))) == []


def test_a_stop_from_a_sender_that_is_not_a_phone_number_is_stored_and_changes_nothing(client):
    response = deliver(client, text("STOP", sender="TANDEMTEST"))

    assert messages(response) == []
    inbound = InboundSms.objects.get()
    assert (inbound.kind, inbound.outcome) == (
        "opt_out",
        "sender number not usable; nothing changed",
    )
    assert not ConsentEvent.objects.exists()
    assert not Profile.objects.exists()
