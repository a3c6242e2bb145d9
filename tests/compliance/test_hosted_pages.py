import re
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from twilio.request_validator import RequestValidator

from compliance import notify
from compliance.disclosures import (
    EMAIL_MARKETING,
    SMS_MARKETING,
    SMS_NEW_NUMBER,
    disclosure_wording,
)
from compliance.forms import PreferencesForm
from compliance.models import (
    ConsentEvent,
    ConsentSource,
    ContactPreference,
    DisclosureText,
    Suppression,
)
from compliance.preferences import marketing_topics_forget, preferences_read
from compliance.services import consent_record, consent_status
from compliance.tokens import (
    PREFERENCES,
    make_token,
    preferences_url,
    rotate,
    unsubscribe_url,
)
from profiles.models import Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

IP, UA = "203.0.113.7", "Mozilla/5.0 (iPhone) Mobile Safari"
LANDLINE = "+442071838750"  # London fixed line: valid, not mobile
NEW_MOBILE = "+14155550199"


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    settings.HOSTED_PAGES_RATE_PER_MINUTE = 100_000
    marketing_topics_forget()  # transactional tests elsewhere flush the seeded topics


@pytest.fixture
def texts():
    sent = []
    notify.register_sender("sms_confirmation", lambda **kwargs: sent.append(kwargs))
    yield sent
    notify.reset_senders()


@pytest.fixture
def client():
    return Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)


def subscribed(channel="email", **kwargs):
    profile = ProfileFactory(**kwargs)
    consent_record(profile=profile, channel=channel, action="opt_in", source="api")
    return profile


def path_of(url: str) -> str:
    return url.removeprefix("https://tandem.example.com")


def form_data(profile, **changes) -> dict:
    """The preference form as the page shows it, with `changes` applied (True/False/str)."""
    form = PreferencesForm(state=preferences_read(profile=profile))
    data = {"action": "save"}
    for name in form.fields:
        value = changes.get(name, form[name].initial)
        if value is True:
            data[name] = "on"
        elif value not in (False, None):
            data[name] = value
    return data


# --- Preference centre -----------------------------------------------------------------------


def test_opening_the_preference_centre_changes_nothing(client):
    profile = subscribed(first_name="Grace")
    before = ConsentEvent.objects.count()

    response = client.get(path_of(preferences_url(profile)))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Offers and sales" in html and "News and new arrivals" in html
    assert "Order updates" not in html.split("Topics")[1].split("</fieldset>")[0]
    assert "Tandem Demo Shop" in html and "1 Example Street" in html
    assert ConsentEvent.objects.count() == before
    assert not ContactPreference.objects.filter(profile=profile).exists()


def test_the_preference_page_reads_in_a_few_queries(client, django_assert_max_num_queries):
    profile = subscribed()
    url = path_of(preferences_url(profile))

    with django_assert_max_num_queries(3):
        assert client.get(url).status_code == 200


def test_turning_sms_off_writes_a_ledger_row_with_ip_and_user_agent(client):
    profile = subscribed(channel="sms")
    url = path_of(preferences_url(profile))

    response = client.post(url, form_data(profile, sms=False))

    assert response.status_code == 302 and response["Location"] == url
    event = ConsentEvent.objects.filter(profile=profile).first()
    assert (event.channel, event.action, event.source) == ("sms", "opt_out", "preference_centre")
    assert event.evidence == {"ip": IP, "user_agent": UA, "page": "preferences"}
    assert consent_status(profile=profile, channel="sms") == "unsubscribed"
    assert ConsentEvent.objects.filter(profile=profile).count() == 2
    shown = client.get(url).content.decode()
    assert "Text messages: unsubscribed from all marketing." in shown


def test_saving_without_changes_records_nothing(client):
    profile = subscribed()
    url = path_of(preferences_url(profile))

    client.post(url, form_data(profile))

    assert ConsentEvent.objects.filter(profile=profile).count() == 1
    assert "Nothing changed." in client.get(url).content.decode()


def test_turning_one_topic_off_keeps_the_others(client):
    profile = subscribed()

    client.post(path_of(preferences_url(profile)), form_data(profile, email__offers=False))

    assert consent_status(profile=profile, channel="email", topic="offers") == "unsubscribed"
    assert consent_status(profile=profile, channel="email", topic="news") == "subscribed"
    assert consent_status(profile=profile, channel="email") == "subscribed"
    assert ConsentEvent.objects.filter(profile=profile).first().topic.key == "offers"


def test_a_person_who_texted_stop_can_subscribe_again_here(client):
    profile = subscribed(channel="sms")
    consent_record(profile=profile, channel="sms", action="opt_out", source="sms_keyword")
    assert Suppression.objects.filter(address=str(profile.phone), lifted_at=None).exists()

    client.post(path_of(preferences_url(profile)), form_data(profile, sms=True))

    assert consent_status(profile=profile, channel="sms") == "subscribed"
    assert not Suppression.objects.filter(address=str(profile.phone), lifted_at=None).exists()
    event = ConsentEvent.objects.filter(profile=profile).first()
    assert event.source == ConsentSource.PREFERENCE_CENTRE
    assert event.disclosure.text == disclosure_wording(SMS_MARKETING)


def test_sms_cannot_be_turned_on_for_a_landline(client):
    profile = subscribed(phone=LANDLINE)

    response = client.post(path_of(preferences_url(profile)), form_data(profile, sms=True))

    assert response.status_code == 302
    assert consent_status(profile=profile, channel="sms") == "never"
    assert ConsentEvent.objects.filter(profile=profile, channel="sms").count() == 0
    shown = client.get(response["Location"]).content.decode()
    assert "Text messages: texts need a mobile number; add one below." in shown


def test_primary_channel_is_saved(client):
    profile = subscribed()

    client.post(path_of(preferences_url(profile)), form_data(profile, primary_channel="sms"))

    assert ContactPreference.objects.get(profile=profile).primary_channel == "sms"


@time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), tick=False)
def test_pausing_sets_paused_until_and_resuming_clears_it(client):
    profile = subscribed()
    url = path_of(preferences_url(profile))

    client.post(url, {"action": "pause", "weeks": "2"})

    paused_until = ContactPreference.objects.get(profile=profile).paused_until
    assert paused_until == datetime(2026, 3, 16, 15, 0, tzinfo=UTC)
    assert "paused until <strong>March 16, 2026</strong>" in client.get(url).content.decode()
    client.post(url, {"action": "resume"})
    assert ContactPreference.objects.get(profile=profile).paused_until is None


def test_a_pause_of_three_weeks_is_refused(client):
    profile = subscribed()

    response = client.post(path_of(preferences_url(profile)), {"action": "pause", "weeks": "3"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ContactPreference.objects.filter(profile=profile).exists()


def test_unsubscribe_from_all_marketing_opts_out_of_both_channels(client):
    profile = subscribed()
    consent_record(profile=profile, channel="sms", action="opt_in", source="api")

    client.post(path_of(preferences_url(profile)), {"action": "unsubscribe_all"})

    assert consent_status(profile=profile, channel="email") == "unsubscribed"
    assert consent_status(profile=profile, channel="sms") == "unsubscribed"
    rows = ConsentEvent.objects.filter(profile=profile, source="preference_centre")
    assert sorted(rows.values_list("channel", "action")) == [
        ("email", "opt_out"),
        ("sms", "opt_out"),
    ]


def test_a_new_phone_number_is_pending_until_yes_and_gets_a_confirmation_text(client, texts):
    profile = subscribed(channel="sms")
    old = str(profile.phone)

    response = client.post(
        path_of(preferences_url(profile)), {"action": "phone", "phone": "(415) 555-0199"}
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    assert str(profile.phone) == NEW_MOBILE
    assert consent_status(profile=profile, channel="sms") == "pending"
    pending, old_out = ConsentEvent.objects.filter(profile=profile)[:2]
    assert (pending.address, pending.action, pending.source) == (
        NEW_MOBILE,
        "pending",
        "preference_centre",
    )
    assert pending.evidence["ip"] == IP
    assert pending.disclosure.text == disclosure_wording(SMS_NEW_NUMBER)
    assert (old_out.address, old_out.action) == (old, "opt_out")
    assert [t["address"] for t in texts] == [NEW_MOBILE]
    body = texts[0]["body"]
    assert body == (
        "TandemShop: Reply YES to confirm you want offers and order updates texts. "
        "Up to 6 msgs/month. Msg & data rates may apply. Reply HELP for help, STOP to cancel."
    )


def test_a_landline_is_refused_as_a_new_phone_number(client, texts):
    profile = subscribed(channel="sms")
    old = str(profile.phone)

    response = client.post(
        path_of(preferences_url(profile)), {"action": "phone", "phone": LANDLINE}
    )

    assert response.status_code == 200
    assert "texts need a mobile number" in response.content.decode()
    profile.refresh_from_db()
    assert str(profile.phone) == old
    assert ConsentEvent.objects.filter(profile=profile).count() == 1
    assert texts == []


def test_a_number_held_by_someone_else_is_refused_and_nothing_changes(client, texts):
    profile = subscribed()
    ProfileFactory(phone=NEW_MOBILE)

    response = client.post(
        path_of(preferences_url(profile)), {"action": "phone", "phone": NEW_MOBILE}
    )

    assert "We cannot use this number here" in response.content.decode()
    assert Profile.objects.get(pk=profile.pk).phone != NEW_MOBILE
    assert texts == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_preference_link_is_404_and_changes_nothing(client, method):
    profile = subscribed()
    token = make_token(PREFERENCES, profile)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    response = getattr(client, method)(f"/preferences/{tampered}/", {"action": "unsubscribe_all"})

    assert response.status_code == 404
    assert consent_status(profile=profile, channel="email") == "subscribed"


def test_a_retired_preference_link_is_404(client):
    profile = subscribed()
    url = path_of(preferences_url(profile))
    rotate(profile)

    response = client.post(url, {"action": "unsubscribe_all"})

    assert response.status_code == 404
    assert consent_status(profile=profile, channel="email") == "subscribed"


def test_an_unknown_action_is_400(client):
    profile = subscribed()

    response = client.post(path_of(preferences_url(profile)), {"action": "delete_me"})

    assert response.status_code == 400
    assert ConsentEvent.objects.filter(profile=profile).count() == 1


def test_the_preference_centre_is_csrf_protected():
    profile = subscribed()
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(path_of(preferences_url(profile)), {"action": "unsubscribe_all"})

    assert response.status_code == 403
    assert consent_status(profile=profile, channel="email") == "subscribed"


# --- One-click unsubscribe (RFC 8058) -----------------------------------------------------------


def test_opening_the_unsubscribe_link_changes_nothing_and_shows_one_button(client):
    profile = subscribed()

    response = client.get(path_of(unsubscribe_url(profile)))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<button") == 1
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in html
    assert consent_status(profile=profile, channel="email") == "subscribed"
    assert ConsentEvent.objects.count() == 1


def test_one_click_urlencoded_post_unsubscribes_at_once_with_200():
    profile = subscribed()
    mailbox = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="GMail")

    response = mailbox.post(
        path_of(unsubscribe_url(profile)),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200 and not response.has_header("Location")
    assert consent_status(profile=profile, channel="email") == "unsubscribed"
    event = ConsentEvent.objects.filter(profile=profile).first()
    assert (event.action, event.source, event.topic) == ("opt_out", "one_click", None)
    assert event.evidence == {"ip": "198.51.100.4", "user_agent": "GMail", "page": "one_click"}


def test_one_click_multipart_post_unsubscribes_at_once_with_200():
    profile = subscribed()
    mailbox = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.5", HTTP_USER_AGENT="Yahoo")

    response = mailbox.post(
        path_of(unsubscribe_url(profile)), {"List-Unsubscribe": "One-Click"}
    )  # the test client sends multipart/form-data by default

    assert response.status_code == 200 and not response.has_header("Location")
    assert consent_status(profile=profile, channel="email") == "unsubscribed"
    assert ConsentEvent.objects.filter(profile=profile).first().evidence["ip"] == "198.51.100.5"


def test_a_topic_link_unsubscribes_only_that_topic(client):
    profile = subscribed()
    url = path_of(unsubscribe_url(profile, topic="news"))

    assert "News and new arrivals" in client.get(url).content.decode()
    client.post(url, {"List-Unsubscribe": "One-Click"})

    assert consent_status(profile=profile, channel="email", topic="news") == "unsubscribed"
    assert consent_status(profile=profile, channel="email", topic="offers") == "subscribed"


def test_one_click_is_idempotent(client):
    profile = subscribed()
    url = path_of(unsubscribe_url(profile))

    for _ in range(3):
        assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200

    assert ConsentEvent.objects.filter(profile=profile, source="one_click").count() == 1


def test_the_browser_button_shows_a_done_page_with_the_preference_link(client):
    profile = subscribed()

    response = client.post(path_of(unsubscribe_url(profile)), {"List-Unsubscribe": "One-Click"})

    html = response.content.decode()
    assert "You are unsubscribed" in html
    link = re.search(r'href="(https://tandem.example.com/preferences/[^"]+)"', html).group(1)
    assert client.get(path_of(link)).status_code == 200


def test_a_post_without_the_one_click_field_is_400_and_changes_nothing(client):
    profile = subscribed()

    response = client.post(path_of(unsubscribe_url(profile)), {"other": "x"})

    assert response.status_code == 400
    assert consent_status(profile=profile, channel="email") == "subscribed"


@pytest.mark.parametrize("kind", ["tampered", "retired", "other purpose", "names nobody"])
def test_a_bad_unsubscribe_link_is_404_and_changes_nothing(client, kind):
    profile = subscribed()
    url = path_of(unsubscribe_url(profile))
    if kind == "names nobody":
        url = path_of(unsubscribe_url(Profile(pk=987654)))
    elif kind == "tampered":
        url = url.replace(url.split("/")[2], url.split("/")[2][:-3] + "xyz")
    elif kind == "retired":
        rotate(profile)
    else:
        url = f"/unsubscribe/{make_token(PREFERENCES, profile)}/"

    response = client.post(url, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 404
    assert consent_status(profile=profile, channel="email") == "subscribed"
    assert ConsentEvent.objects.count() == 1


def test_the_header_url_is_canonical_and_the_slashless_one_redirects(client):
    profile = subscribed()
    url = unsubscribe_url(profile)

    assert url.startswith("https://tandem.example.com/unsubscribe/") and url.endswith("/")
    assert client.post(path_of(url), {"List-Unsubscribe": "One-Click"}).status_code == 200
    slashless = client.get(path_of(url).rstrip("/"))
    assert slashless.status_code == 301 and slashless["Location"] == path_of(url)


def test_one_click_posts_are_never_rate_limited(client, settings):
    settings.HOSTED_PAGES_RATE_PER_MINUTE = 1
    profiles = [subscribed() for _ in range(3)]

    codes = [
        client.post(path_of(unsubscribe_url(p)), {"List-Unsubscribe": "One-Click"}).status_code
        for p in profiles
    ]

    assert codes == [200, 200, 200]


# --- Sign-up and double opt-in ----------------------------------------------------------------


def signup(client, **fields):
    data = {"first_name": "Ada", "last_name": "Lovelace", "email": "", "phone": ""}
    data.update(fields)
    return client.post("/subscribe/", data)


def test_the_signup_boxes_are_unchecked_and_show_the_disclosures(client):
    response = client.get("/subscribe/")

    html = response.content.decode()
    boxes = re.findall(r"<input[^>]*type=\"checkbox\"[^>]*>", html)
    assert len(boxes) == 2 and not any("checked" in box for box in boxes)
    assert disclosure_wording(EMAIL_MARKETING) in html
    assert disclosure_wording(SMS_MARKETING).replace("&", "&amp;") in html


def test_the_migration_stored_the_first_disclosure_versions():
    sms = DisclosureText.objects.get(key=SMS_MARKETING, version=1)

    assert sms.channel == "sms"
    assert sms.text == disclosure_wording(SMS_MARKETING)
    assert "Msg & data rates may apply" in sms.text and "Reply HELP" in sms.text


def test_signing_up_for_both_leaves_both_pending_and_sends_both_confirmations(client, texts):
    response = signup(
        client,
        email="Ada@Example.com",
        phone="415 555 0101",
        email_consent="on",
        sms_consent="on",
    )

    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    profile = Profile.objects.get(email="ada@example.com")
    assert str(profile.phone) == "+14155550101" and profile.first_name == "Ada"
    assert consent_status(profile=profile, channel="email") == "pending"
    assert consent_status(profile=profile, channel="sms") == "pending"
    rows = {e.channel: e for e in ConsentEvent.objects.filter(profile=profile)}
    assert rows["email"].disclosure.text == disclosure_wording(EMAIL_MARKETING)
    assert rows["sms"].disclosure.text == disclosure_wording(SMS_MARKETING)
    assert rows["sms"].evidence == {"ip": IP, "user_agent": UA, "page": "subscribe"}
    assert {e.source for e in rows.values()} == {"signup_form"}
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert "/subscribe/confirm/" in mail.outbox[0].body
    assert [t["address"] for t in texts] == ["+14155550101"]
    assert texts[0]["body"].startswith("TandemShop: Reply YES")


def test_email_stays_pending_until_the_confirm_button_is_pressed(client):
    signup(client, email="ada@example.com", email_consent="on")
    profile = Profile.objects.get(email="ada@example.com")
    link = re.search(r"https://\S+/subscribe/confirm/\S+/", mail.outbox[0].body).group(0)

    page = client.get(path_of(link))

    assert page.status_code == 200 and "Yes, subscribe me" in page.content.decode()
    assert consent_status(profile=profile, channel="email") == "pending"
    confirmed = client.post(path_of(link))
    assert "You are subscribed" in confirmed.content.decode()
    assert consent_status(profile=profile, channel="email") == "subscribed"
    event = ConsentEvent.objects.filter(profile=profile).first()
    assert (event.action, event.source) == ("opt_in", "double_opt_in")
    assert event.disclosure.key == EMAIL_MARKETING and event.evidence["ip"] == IP
    client.post(path_of(link))
    assert ConsentEvent.objects.filter(profile=profile, source="double_opt_in").count() == 1


def test_a_sms_signup_is_confirmed_by_a_yes_reply(client, settings, texts):
    settings.TWILIO_AUTH_TOKEN = "auth-token-for-the-test"
    signup(client, phone=NEW_MOBILE, sms_consent="on")
    profile = Profile.objects.get(phone=NEW_MOBILE)
    assert consent_status(profile=profile, channel="sms") == "pending"
    path = reverse("compliance_webhooks:twilio_inbound")
    reply = {"MessageSid": "SM" + "1" * 32, "From": NEW_MOBILE, "To": "+14155550100", "Body": "Yes"}
    signature = RequestValidator("auth-token-for-the-test").compute_signature(
        "https://tandem.example.com" + path, reply
    )

    Client().post(
        path,
        urlencode(reply),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )

    assert consent_status(profile=profile, channel="sms") == "subscribed"
    event = ConsentEvent.objects.filter(profile=profile).first()
    assert event.source == "double_opt_in"
    assert event.disclosure.text == disclosure_wording(SMS_MARKETING)


def test_a_tampered_confirm_link_is_404_and_confirms_nothing(client):
    signup(client, email="ada@example.com", email_consent="on")
    link = re.search(r"https://\S+/subscribe/confirm/\S+/", mail.outbox[0].body).group(0)

    response = client.post(path_of(link).replace("/confirm/", "/confirm/x"))

    assert response.status_code == 404
    profile = Profile.objects.get(email="ada@example.com")
    assert consent_status(profile=profile, channel="email") == "pending"


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        (LANDLINE, "This is not a mobile number: texts need a mobile number."),
        ("", "Enter your mobile number to get texts."),
        ("12", "Enter a valid mobile number, e.g. +1 415 555 0123."),
    ],
)
def test_sms_consent_needs_a_mobile_number(client, texts, phone, message):
    response = signup(client, email="ada@example.com", phone=phone, sms_consent="on")

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Profile.objects.exists() and not ConsentEvent.objects.exists() and texts == []


def test_signing_up_without_a_box_ticked_is_refused(client):
    response = signup(client, email="ada@example.com")

    assert "Tick at least one box" in response.content.decode()
    assert not Profile.objects.exists()


def test_the_signup_form_is_csrf_protected():
    response = Client(enforce_csrf_checks=True).post(
        "/subscribe/", {"email": "ada@example.com", "email_consent": "on"}
    )

    assert response.status_code == 403
    assert not Profile.objects.exists()


def test_the_signup_form_never_merges_or_overwrites_profiles(client, texts):
    by_email = ProfileFactory(email="ada@example.com", phone="+14155550111")
    by_phone = ProfileFactory(email="other@example.com", phone="+14155550122")

    signup(
        client, email="ada@example.com", phone="+14155550122", email_consent="on", sms_consent="on"
    )

    by_email.refresh_from_db()
    by_phone.refresh_from_db()
    assert str(by_email.phone) == "+14155550111" and by_phone.email == "other@example.com"
    assert consent_status(profile=by_email, channel="email") == "pending"
    assert consent_status(profile=by_phone, channel="sms") == "pending"
    assert consent_status(profile=by_email, channel="sms") == "never"


def test_a_person_who_unsubscribed_can_sign_up_again_by_confirming(client):
    profile = subscribed(email="ada@example.com")
    consent_record(profile=profile, channel="email", action="opt_out", source="one_click")

    signup(client, email="ada@example.com", email_consent="on")

    assert consent_status(profile=profile, channel="email") == "unsubscribed"
    link = re.search(r"https://\S+/subscribe/confirm/\S+/", mail.outbox[0].body).group(0)
    client.post(path_of(link))
    assert consent_status(profile=profile, channel="email") == "subscribed"


def test_an_already_subscribed_address_gets_no_second_confirmation(client):
    subscribed(email="ada@example.com")

    response = signup(client, email="ada@example.com", email_consent="on")

    assert response.status_code == 200 and mail.outbox == []


def test_a_second_signup_within_ten_minutes_sends_no_second_confirmation(client, texts):
    with time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), tick=False):
        signup(
            client, email="ada@example.com", phone=NEW_MOBILE, email_consent="on", sms_consent="on"
        )
    with time_machine.travel(datetime(2026, 3, 2, 15, 9, tzinfo=UTC), tick=False):
        signup(
            client, email="ada@example.com", phone=NEW_MOBILE, email_consent="on", sms_consent="on"
        )
    assert (len(mail.outbox), len(texts)) == (1, 1)
    with time_machine.travel(datetime(2026, 3, 2, 15, 20, tzinfo=UTC), tick=False):
        signup(
            client, email="ada@example.com", phone=NEW_MOBILE, email_consent="on", sms_consent="on"
        )

    assert (len(mail.outbox), len(texts)) == (2, 2)
    assert ConsentEvent.objects.filter(action="pending").count() == 6


def test_a_new_brand_name_stores_a_new_disclosure_version(client, settings, texts):
    settings.SMS_BRAND_NAME = "Acme Outfitters"

    signup(client, phone="+14155550133", sms_consent="on")

    event = ConsentEvent.objects.get(channel="sms")
    assert event.disclosure.version == 2
    assert "from Acme Outfitters at the number provided" in event.disclosure.text
    assert DisclosureText.objects.get(key=SMS_MARKETING, version=1).text != event.disclosure.text


# --- Rate limit and hook ----------------------------------------------------------------------


def test_too_many_requests_from_one_address_get_a_friendly_429(settings):
    settings.HOSTED_PAGES_RATE_PER_MINUTE = 3
    # A fresh address each run: with Redis the counts outlive the test.
    address = f"2001:db8::{uuid.uuid4().hex[:4]}"
    visitor = Client(REMOTE_ADDR=address)

    codes = [visitor.get("/subscribe/").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    response = visitor.get("/subscribe/")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Please wait a moment" in response.content.decode()
    assert Client(REMOTE_ADDR=address + "1").get("/subscribe/").status_code == 200


def test_only_known_confirmation_kinds_can_be_registered():
    with pytest.raises(ValueError, match="unknown confirmation kind"):
        notify.register_sender("push_confirmation", print)
