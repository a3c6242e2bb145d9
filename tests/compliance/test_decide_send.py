"""decide_send: the decision over what the database knows, as channels will call it."""

from datetime import UTC, datetime, timedelta

import pytest

from compliance.decide import Decision, Outcome, RecentSend
from compliance.facts import caps_active, decide_send
from compliance.models import (
    ConsentAction,
    ConsentSource,
    ContactPreference,
    FrequencyCap,
    InboundSms,
    KeywordReview,
)
from compliance.services import consent_record
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

NOON_NY = datetime(2025, 6, 10, 16, 0, tzinfo=UTC)


@pytest.fixture
def florida():
    profile = ProfileFactory(phone="+13055550123", time_zone="")
    for channel in ("email", "sms"):
        consent_record(profile=profile, channel=channel, action=ConsentAction.OPT_IN,
                       source=ConsentSource.SIGNUP_FORM)  # fmt: skip
    return profile


def send(profile, channel="sms", category="marketing", at=NOON_NY, sends=(), topic=None):
    return decide_send(profile=profile, channel=channel, category=category, topic=topic, at=at,
                       recent_sends=list(sends))  # fmt: skip


def test_default_caps_are_the_state_limit_a_daily_cap_and_a_gap_in_that_order():
    assert [(cap.key, cap.action) for cap in caps_active()] == [
        ("state-sms-24h", "defer"),
        ("any-channel-daily", "defer"),
        ("min-gap", "defer"),
    ]


def test_a_subscribed_florida_number_at_noon_may_get_a_text(florida):
    assert send(florida) == Decision(Outcome.ALLOW, "allowed")


def test_the_fourth_florida_text_in_24_hours_waits(florida):
    sends = [RecentSend(at=NOON_NY - timedelta(hours=h), channel="sms") for h in (20, 6, 2)]
    decision = send(florida, sends=sends)
    assert (decision.outcome, decision.reason) == (Outcome.DEFER, "cap_state-sms-24h")
    assert decision.until == NOON_NY + timedelta(hours=4)


def test_a_cap_an_admin_turned_off_no_longer_applies(florida):
    FrequencyCap.objects.filter(key="min-gap").update(is_active=False)
    sends = [RecentSend(at=NOON_NY - timedelta(minutes=5), channel="email")]
    assert send(florida, sends=sends).allowed


def test_stop_after_scheduling_suppresses_at_dispatch(florida):
    assert send(florida).allowed
    consent_record(profile=florida, channel="sms", action=ConsentAction.OPT_OUT,
                   source=ConsentSource.SMS_KEYWORD)  # fmt: skip
    assert send(florida) == Decision(Outcome.SUPPRESS, "suppressed_sms_stop")
    assert send(florida, category="transactional").reason == "suppressed_sms_stop"
    assert send(florida, channel="email").allowed


def test_an_open_keyword_review_pauses_sms_marketing_until_dismissed(florida):
    inbound = InboundSms.objects.create(message_sid="SM1", from_number=str(florida.phone),
                                        body="can't stop smiling")  # fmt: skip
    review = KeywordReview.objects.create(address=str(florida.phone), inbound=inbound)
    assert send(florida).reason == "sms_opt_out_review_pending"
    review.status = "dismissed"
    review.save()
    assert send(florida).allowed


def test_a_pause_from_the_preference_centre_skips_marketing(florida):
    ContactPreference.objects.create(profile=florida, paused_until=NOON_NY + timedelta(days=7))
    assert send(florida, channel="email").outcome == Outcome.SKIP
    assert send(florida, channel="email", category="transactional").allowed


def test_a_topic_opt_out_stops_that_topic_only(florida):
    consent_record(profile=florida, channel="email", action=ConsentAction.OPT_OUT, topic="offers",
                   source=ConsentSource.PREFERENCE_CENTRE)  # fmt: skip
    assert send(florida, channel="email", topic="offers").reason == "consent_unsubscribed"
    assert send(florida, channel="email", topic="news").allowed


def test_a_complaint_still_lets_a_receipt_through(florida):
    consent_record(profile=florida, channel="email", action=ConsentAction.OPT_OUT,
                   source=ConsentSource.COMPLAINT)  # fmt: skip
    assert send(florida, channel="email").reason == "suppressed_complaint"
    assert send(florida, channel="email", category="transactional").allowed
