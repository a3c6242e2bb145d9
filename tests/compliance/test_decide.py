"""The pure send decision: consent, suppression, pause, review, caps and quiet hours."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from compliance.decide import Cap, ChannelFacts, Decision, Facts, Outcome, RecentSend, decide
from profiles.models import Profile

NEW_YORK_PHONE = "+12125550123"
FLORIDA_PHONE = "+13055550123"  # Miami: Eastern time, Florida's rules and 3 per 24 h
TOLL_FREE_PHONE = "+18005550123"  # no zone at all
NOON_NY = datetime(2025, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 EDT, a Tuesday

DAILY = Cap(key="daily", kind="count", channel="any", action="defer", max_messages=3,
            window_hours=24)  # fmt: skip
GAP = Cap(key="gap", kind="gap", channel="any", action="defer", min_gap_minutes=60)
STATE = Cap(key="state", kind="state_sms", channel="sms", action="defer")


def person(phone=NEW_YORK_PHONE, time_zone="", **traits):
    return Profile(pk=7, email="ann@example.com", phone=phone, time_zone=time_zone, traits=traits)


def facts(email="subscribed", sms="subscribed", **overrides):
    channels = {
        "email": ChannelFacts(address="ann@example.com", status=email, channel_status=email),
        "sms": ChannelFacts(address=NEW_YORK_PHONE, status=sms, channel_status=sms),
    }
    for channel, changes in overrides.pop("channels", {}).items():
        channels[channel] = replace(channels[channel], **changes)
    return Facts(channels=channels, **overrides)


def run(channel="sms", category="marketing", at=NOON_NY, sends=(), profile=None, caps=(),
        **fact_args) -> Decision:  # fmt: skip
    return decide(
        profile=profile or person(),
        channel=channel,
        category=category,
        topic=None,
        at=at,
        recent_sends=list(sends),
        facts=facts(**fact_args),
        caps=caps,
    )


def sms_sent(*hours_ago, at=NOON_NY, category="marketing"):
    return [RecentSend(at=at - timedelta(hours=h), channel="sms", category=category)
            for h in hours_ago]  # fmt: skip


# --- Permission ---------------------------------------------------------------------------------


def test_subscribed_marketing_sms_at_noon_is_allowed():
    assert run() == Decision(Outcome.ALLOW, "allowed")


@pytest.mark.parametrize("status", ["never", "unsubscribed", "pending"])
def test_marketing_without_consent_is_suppressed_with_the_status(status):
    decision = run(channel="email", email=status)
    assert (decision.outcome, decision.reason) == (Outcome.SUPPRESS, f"consent_{status}")


def test_email_consent_never_implies_sms_consent():
    assert run(channel="sms", email="subscribed", sms="never").reason == "consent_never"


def test_stop_suppression_blocks_even_an_order_update():
    decision = run(category="transactional", channels={"sms": {"suppression": "sms_stop"}})
    assert (decision.outcome, decision.reason) == (Outcome.SUPPRESS, "suppressed_sms_stop")


def test_a_complaint_stops_marketing_email_but_not_a_receipt():
    complained = {"email": {"suppression": "complaint"}}
    assert run(channel="email", channels=complained).reason == "suppressed_complaint"
    receipt = run(channel="email", category="transactional", channels=complained)
    assert receipt == Decision(Outcome.ALLOW, "transactional")


def test_an_order_update_skips_topic_preferences_quiet_hours_and_caps():
    night = datetime(2025, 6, 11, 3, 0, tzinfo=UTC)  # 23:00 in New York
    decision = run(category="transactional", at=night, sms="never", caps=[DAILY],
                   sends=sms_sent(1, 2, 3, at=night))  # fmt: skip
    assert decision == Decision(Outcome.ALLOW, "transactional")


def test_an_sms_order_update_to_someone_who_turned_sms_off_is_suppressed():
    decision = run(category="transactional", sms="unsubscribed")
    assert decision.reason == "consent_unsubscribed"


def test_no_address_is_suppressed():
    decision = run(channel="sms", channels={"sms": {"address": ""}})
    assert decision == Decision(Outcome.SUPPRESS, "no_address")


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        run(at=datetime(2025, 6, 10, 12, 0))


# --- The person's pause and the opt-out review ---------------------------------------------------


def test_a_paused_person_gets_no_marketing_until_the_pause_ends():
    until = NOON_NY + timedelta(days=14)
    decision = run(channel="email", paused_until=until)
    assert decision == Decision(Outcome.SKIP, "paused_by_person", until=until)
    assert run(channel="email", paused_until=until, at=until).allowed


def test_an_unclear_reply_in_review_pauses_sms_marketing_only():
    review = {"sms": {"review_pending": True}}
    assert run(channels=review) == Decision(Outcome.SKIP, "sms_opt_out_review_pending")
    assert run(channel="email", channels=review).allowed
    assert run(category="transactional", channels=review).allowed


# --- Quiet hours (SMS marketing) ------------------------------------------------------------------


def test_sms_at_2200_new_york_defers_to_0800_next_day_spread_over_15_minutes():
    night = datetime(2025, 6, 11, 2, 0, tzinfo=UTC)  # 22:00 EDT
    decision = run(at=night)
    assert (decision.outcome, decision.reason) == (Outcome.DEFER, "quiet_hours_federal")
    opens = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert opens <= decision.until < opens + timedelta(minutes=15)


def test_email_has_no_quiet_hours():
    assert run(channel="email", at=datetime(2025, 6, 11, 2, 0, tzinfo=UTC)).allowed


def test_florida_backlog_past_2000_defers_to_0800():
    at = datetime(2025, 6, 11, 0, 5, tzinfo=UTC)  # 20:05 EDT in Miami: federal ok, FL closed
    decision = run(at=at, profile=person(phone=FLORIDA_PHONE))
    assert decision.reason == "quiet_hours_state_FL"
    assert decision.until.astimezone(UTC).date().isoformat() == "2025-06-11"
    assert decision.until.hour == 12  # 08:00 EDT


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2025, 3, 9, 6, 30, tzinfo=UTC),  # 01:30 EST, half an hour before the jump
        datetime(2025, 11, 2, 5, 30, tzinfo=UTC),  # 01:30 EDT, the first 01:30
        datetime(2025, 11, 2, 6, 30, tzinfo=UTC),  # 01:30 EST, the repeated 01:30
    ],
)
def test_dst_change_instants_in_new_york_defer_to_0800_local(instant):
    decision = run(at=instant, profile=person(time_zone="America/New_York"))
    assert decision.outcome == Outcome.DEFER
    local = decision.until.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute < 15) == (8, True)
    assert local.date() == instant.date()


def test_a_us_number_with_no_zone_waits_for_1800_utc():
    at = datetime(2025, 6, 10, 17, 0, tzinfo=UTC)
    decision = run(at=at, profile=person(phone=TOLL_FREE_PHONE))
    assert decision.reason == "quiet_hours_unknown_zone"
    assert at.replace(hour=18) <= decision.until < at.replace(hour=18, minute=15)
    assert run(at=at.replace(hour=19), profile=person(phone=TOLL_FREE_PHONE)).allowed


# --- Caps ---------------------------------------------------------------------------------------


def test_florida_fourth_marketing_text_in_24_hours_waits_for_the_oldest_to_age_out():
    florida = person(phone=FLORIDA_PHONE)
    sends = sms_sent(20, 6, 1)
    decision = run(profile=florida, caps=[STATE], sends=sends)
    assert (decision.outcome, decision.reason) == (Outcome.DEFER, "cap_state")
    assert decision.until == NOON_NY + timedelta(hours=4)  # 20 h ago + 24 h, inside 08-20


def test_florida_cap_counts_any_sender_but_not_order_updates_or_email():
    florida = person(phone=FLORIDA_PHONE)
    sends = [*sms_sent(20, 6), *sms_sent(1, category="transactional"),
             RecentSend(at=NOON_NY - timedelta(hours=2), channel="email")]  # fmt: skip
    assert run(profile=florida, caps=[STATE], sends=sends).allowed


def test_florida_cap_deferral_lands_inside_the_florida_window():
    florida = person(phone=FLORIDA_PHONE)
    evening = datetime(2025, 6, 10, 23, 0, tzinfo=UTC)  # 19:00 EDT
    sends = sms_sent(23, 2, 1, at=evening)  # the oldest ages out at 20:00 EDT: FL is closed
    decision = run(profile=florida, caps=[STATE], sends=sends, at=evening)
    assert decision.reason == "cap_state"
    assert decision.until == datetime(2025, 6, 11, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_state_cap_does_not_touch_a_new_york_number():
    assert run(caps=[STATE], sends=sms_sent(20, 6, 1)).allowed


def test_any_channel_cap_counts_both_channels():
    sends = [*sms_sent(10, 5), RecentSend(at=NOON_NY - timedelta(hours=3), channel="email")]
    decision = run(channel="email", caps=[DAILY], sends=sends)
    assert decision == Decision(Outcome.DEFER, "cap_daily", until=NOON_NY + timedelta(hours=14))


def test_minimum_gap_defers_to_the_end_of_the_gap():
    sends = [RecentSend(at=NOON_NY - timedelta(minutes=20), channel="email")]
    decision = run(channel="email", caps=[GAP], sends=sends)
    assert decision == Decision(Outcome.DEFER, "cap_gap", until=NOON_NY + timedelta(minutes=40))


def test_a_skip_cap_skips():
    cap = Cap(key="weekly-sms", kind="count", channel="sms", action="skip", max_messages=1,
              window_hours=168)  # fmt: skip
    assert run(caps=[cap], sends=sms_sent(30)) == Decision(Outcome.SKIP, "cap_weekly-sms")


def test_a_switch_cap_moves_a_capped_sms_to_email_when_email_may_go():
    cap = Cap(key="sms-daily", kind="count", channel="sms", action="switch", max_messages=1,
              window_hours=24)  # fmt: skip
    decision = run(caps=[cap], sends=sms_sent(2))
    assert decision == Decision(Outcome.SWITCH, "cap_sms-daily", channel="email")


def test_a_switch_cap_defers_when_the_other_channel_may_not_go():
    cap = Cap(key="sms-daily", kind="count", channel="sms", action="switch", max_messages=1,
              window_hours=24)  # fmt: skip
    decision = run(caps=[cap], sends=sms_sent(2), email="unsubscribed")
    assert decision == Decision(Outcome.DEFER, "cap_sms-daily", until=NOON_NY + timedelta(hours=22))


def test_the_first_breached_cap_in_order_decides():
    skip_gap = Cap(key="gap-skip", kind="gap", channel="any", action="skip", min_gap_minutes=60)
    sends = sms_sent(0.5, 2, 3)
    assert run(caps=[DAILY, skip_gap], sends=sends).reason == "cap_daily"
    assert run(caps=[skip_gap, DAILY], sends=sends).reason == "cap_gap-skip"


def test_sends_in_the_future_of_the_decision_do_not_count():
    assert run(caps=[GAP], sends=sms_sent(-1)).allowed


def test_decide_is_pure_and_needs_no_database():
    # No django_db mark: pytest-django fails any query made here.
    decision = run(
        caps=[STATE, DAILY, GAP], sends=sms_sent(20, 6, 1), profile=person(FLORIDA_PHONE)
    )
    assert decision.reason == "cap_state"
