"""The review list for unclear SMS opt-outs, and the read-only inbound SMS admin."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from compliance.models import ConsentEvent, ConsentSource, InboundSms, KeywordReview
from compliance.services import consent_record, consent_status, is_suppressed
from compliance.sms_inbound import InboundText, inbound_sms_receive
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:compliance_keywordreview_changelist")
PERSON = "+14155550123"
STRANGER = "+14155550188"


def reviewer(client, role: str = "Compliance"):
    user = UserFactory(username=f"{role.lower()}-reviewer", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def unclear(body: str = "can't stop smiling", *, sender: str = PERSON, sid: str = "SM-1"):
    text = InboundText(message_sid=sid, from_number=sender, to_number="+14155550100", body=body)
    return inbound_sms_receive(text=text).review


def subscribed(phone: str = PERSON):
    profile = ProfileFactory(phone=phone)
    consent_record(profile=profile, channel="sms", action="opt_in", source=ConsentSource.API)
    return profile


def act(client, action: str, *reviews: KeywordReview):
    data = {"action": action, "_selected_action": [review.pk for review in reviews]}
    return client.post(CHANGELIST, data, follow=True)


def test_the_review_list_title_counts_the_open_reviews(client):
    reviewer(client)
    subscribed()
    unclear(sid="SM-1")
    unclear("I'll never quit you", sid="SM-2")

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert (
        "<h1>Keyword review: 2 open (SMS marketing to these numbers is paused)</h1>"
        in response.text
    )
    assert "can&#x27;t stop smiling" in response.text
    assert 'value="treat_as_opt_out"' in response.text
    assert 'value="not_an_opt_out"' in response.text


def test_treat_as_opt_out_records_the_opt_out_with_the_reviewer_on_the_ledger(client):
    user = reviewer(client)
    profile = subscribed()
    review = unclear(sid="SM-smile")

    response = act(client, "treat_as_opt_out", review)

    assert "1 review(s) treated as opt-outs." in response.text
    review.refresh_from_db()
    assert (review.status, review.reviewed_by) == ("opted_out", user)
    assert consent_status(profile=profile, channel="sms") == "unsubscribed"
    assert is_suppressed(address=PERSON, channel="sms")
    event = ConsentEvent.objects.get(source=ConsentSource.SMS_KEYWORD)
    assert (event.actor, event.action, event.profile) == (user, "opt_out", profile)
    assert event.evidence["keyword_review"] == review.pk
    assert event.evidence["reviewed_by"] == "compliance-reviewer"
    assert event.evidence["body"] == "can't stop smiling"
    assert event.evidence["message_sid"] == "SM-smile"
    assert "Keyword review: 0 open" in response.text


def test_treat_as_opt_out_for_an_unknown_number_suppresses_the_address(client):
    reviewer(client)
    review = unclear(sender=STRANGER)

    act(client, "treat_as_opt_out", review)

    assert is_suppressed(address=STRANGER, channel="sms")
    assert ConsentEvent.objects.get().profile is None


def test_not_an_opt_out_closes_the_review_and_changes_no_consent(client):
    user = reviewer(client)
    profile = subscribed()
    review = unclear()

    response = act(client, "not_an_opt_out", review)

    assert "1 review(s) dismissed." in response.text
    review.refresh_from_db()
    assert (review.status, review.reviewed_by) == ("dismissed", user)
    assert review.reviewed_at is not None
    assert consent_status(profile=profile, channel="sms") == "subscribed"
    assert ConsentEvent.objects.count() == 1  # the opt-in from the setup only
    assert not is_suppressed(address=PERSON, channel="sms")


def test_a_settled_review_is_not_settled_again(client):
    reviewer(client)
    profile = subscribed()
    review = unclear()
    act(client, "not_an_opt_out", review)

    response = act(client, "treat_as_opt_out", review)

    assert "0 review(s) treated as opt-outs." in response.text
    assert "1 review(s) were already settled; left as they were." in response.text
    review.refresh_from_db()
    assert review.status == "dismissed"
    assert consent_status(profile=profile, channel="sms") == "subscribed"


def test_a_marketer_sees_the_list_but_cannot_settle_a_review(client):
    reviewer(client, role="Marketer")
    profile = subscribed()
    review = unclear()

    listing = client.get(CHANGELIST)
    act(client, "treat_as_opt_out", review)

    assert listing.status_code == 200
    assert 'value="treat_as_opt_out"' not in listing.text
    review.refresh_from_db()
    assert review.status == "open"
    assert consent_status(profile=profile, channel="sms") == "subscribed"


def test_a_review_is_read_not_edited_or_added(client):
    reviewer(client)
    review = unclear()

    page = client.get(reverse("admin:compliance_keywordreview_change", args=[review.pk]))
    edit = client.post(
        reverse("admin:compliance_keywordreview_change", args=[review.pk]), {"status": "dismissed"}
    )

    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert edit.status_code == 403
    assert client.get(reverse("admin:compliance_keywordreview_add")).status_code == 403
    review.refresh_from_db()
    assert review.status == "open"


def test_inbound_sms_are_listed_read_only(client):
    reviewer(client)
    unclear(sid="SM-listed")
    inbound = InboundSms.objects.get()

    listing = client.get(reverse("admin:compliance_inboundsms_changelist"))
    page = client.get(reverse("admin:compliance_inboundsms_change", args=[inbound.pk]))

    assert listing.status_code == 200
    assert "can&#x27;t stop smiling" in listing.text
    assert 'name="_save"' not in page.text
    assert client.get(reverse("admin:compliance_inboundsms_add")).status_code == 403
