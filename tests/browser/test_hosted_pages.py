import re

import pytest
from django.core import mail

from compliance.models import ConsentEvent
from compliance.preferences import marketing_topics_forget
from compliance.services import consent_record, consent_status
from compliance.tokens import preferences_url, unsubscribe_url
from profiles.models import Profile
from tests.factories import ProfileFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def links_to_the_live_server(settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.HOSTED_PAGES_RATE_PER_MINUTE = 100_000
    marketing_topics_forget()  # each transactional test ends with the tables flushed


def test_a_person_turns_sms_off_and_the_ledger_shows_it(page, live_server, admin_login):
    profile = ProfileFactory(first_name="Grace", last_name="Hopper")
    for channel in ("email", "sms"):
        consent_record(profile=profile, channel=channel, action="opt_in", source="api")

    page.goto(preferences_url(profile))
    sms = page.get_by_label("Text messages marketing")
    assert sms.is_checked()
    sms.uncheck()
    page.get_by_role("button", name="Save my choices").click()

    assert page.get_by_role("status").inner_text() == (
        "Text messages: unsubscribed from all marketing."
    )
    assert not page.get_by_label("Text messages marketing").is_checked()
    assert page.get_by_label("Email marketing").is_checked()
    event = ConsentEvent.objects.filter(profile=profile).first()
    assert (event.channel, event.action, event.source) == ("sms", "opt_out", "preference_centre")
    assert event.evidence["ip"] == "127.0.0.1"
    assert "HeadlessChrome" in event.evidence["user_agent"]

    admin = admin_login()
    admin.goto(f"{live_server.url}/admin/compliance/consentevent/{event.pk}/change/")
    ledger_row = admin.locator("#content-main").inner_text()
    assert "Preference centre" in ledger_row and "HeadlessChrome" in ledger_row


def test_a_person_signs_up_for_email_and_texts_and_confirms_the_email(page, live_server):
    page.goto(f"{live_server.url}/subscribe/")
    assert not page.get_by_label(re.compile("^Email me news")).is_checked()
    assert not page.get_by_label(re.compile("^By checking this box")).is_checked()

    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Email", exact=True).fill("ada@example.com")
    page.get_by_label("Mobile number").fill("+1 415 555 0142")
    page.get_by_label(re.compile("^Email me news")).check()
    page.get_by_label(re.compile("^By checking this box")).check()
    page.get_by_role("button", name="Sign up").click()

    assert "Check your inbox" in page.get_by_role("status").inner_text()
    profile = Profile.objects.get(email="ada@example.com")
    assert consent_status(profile=profile, channel="email") == "pending"
    assert consent_status(profile=profile, channel="sms") == "pending"
    link = re.search(r"http\S+/subscribe/confirm/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Yes, subscribe me").click()
    assert page.get_by_role("heading", level=1).inner_text() == "You are subscribed"
    assert consent_status(profile=profile, channel="email") == "subscribed"
    assert consent_status(profile=profile, channel="sms") == "pending"


def test_the_unsubscribe_page_button_unsubscribes_without_a_redirect(page, live_server):
    profile = ProfileFactory()
    consent_record(profile=profile, channel="email", action="opt_in", source="api")
    url = unsubscribe_url(profile)

    page.goto(url)
    assert consent_status(profile=profile, channel="email") == "subscribed"
    page.get_by_role("button", name="Unsubscribe").click()

    assert page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
    assert page.url == url
    assert consent_status(profile=profile, channel="email") == "unsubscribed"
    page.get_by_role("link", name="Manage all your preferences").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Your preferences"
