import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from phonenumbers import parse
from phonenumbers.timezone import time_zones_for_number

from compliance.quiet_hours import (
    RULES_PATH,
    NoAllowedTime,
    Recipient,
    _wall_instant,
    candidate_zones,
    is_allowed,
    next_allowed_time,
    quiet_hours_reason,
    recipient_location,
    release_spread,
    state_daily_limit,
)

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
NY_PROFILE = Recipient(zones=("America/New_York",), states=(), is_us=True)
FLORIDA_PHONE = "+13055550123"  # Miami: New York zone, FL rules
PANHANDLE_PHONE = "+18505550123"  # 850 spans Eastern and Central
IDAHO_PHONE = "+12085550123"  # phonenumbers itself gives Boise and Los Angeles
TOLL_FREE_PHONE = "+18005550123"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def ct(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


# --- Federal window ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "allowed"),
    [
        (ny(2025, 6, 10, 7, 59), False),
        (ny(2025, 6, 10, 8, 0), True),
        (ny(2025, 6, 10, 20, 59, 59), True),
        (ny(2025, 6, 10, 21, 0), False),
    ],
)
def test_federal_window_edges_in_new_york(local, allowed):
    assert is_allowed(at=local, location=NY_PROFILE) is allowed
    assert quiet_hours_reason(at=local, location=NY_PROFILE) == (
        None if allowed else "quiet_hours_federal"
    )


def test_next_allowed_time_from_2130_new_york_is_0800_next_day():
    at = ny(2025, 6, 10, 21, 30)

    assert next_allowed_time(at=at, location=NY_PROFILE) == utc(2025, 6, 11, 12, 0)


def test_next_allowed_time_returns_an_allowed_instant_unchanged_in_utc():
    at = ny(2025, 6, 10, 12, 34, 56)

    assert next_allowed_time(at=at, location=NY_PROFILE) == utc(2025, 6, 10, 16, 34, 56)


# --- State rules --------------------------------------------------------------------------


def test_florida_number_is_closed_at_2000_local():
    location = recipient_location(phone=FLORIDA_PHONE)

    assert location.states == ("FL",)
    assert is_allowed(at=ny(2025, 6, 10, 19, 59), location=location) is True
    assert is_allowed(at=ny(2025, 6, 10, 20, 0), location=location) is False
    assert quiet_hours_reason(at=ny(2025, 6, 10, 20, 0), location=location) == (
        "quiet_hours_state_FL"
    )


def test_backlog_past_2000_in_florida_defers_to_0800_next_day():
    location = recipient_location(phone=FLORIDA_PHONE)

    released = next_allowed_time(at=ny(2025, 6, 10, 20, 1), location=location)

    assert released == ny(2025, 6, 11, 8, 0)
    assert released == utc(2025, 6, 11, 12, 0)


def test_connecticut_number_is_closed_at_0830():
    location = recipient_location(phone="+12035550123")

    assert location.states == ("CT",)
    assert is_allowed(at=ny(2025, 6, 10, 8, 30), location=location) is False
    assert quiet_hours_reason(at=ny(2025, 6, 10, 8, 30), location=location) == (
        "quiet_hours_state_CT"
    )
    assert is_allowed(at=ny(2025, 6, 10, 9, 0), location=location) is True


def test_texas_sunday_opens_at_noon():
    location = recipient_location(phone="+15125550123")  # Austin
    sunday = date(2025, 6, 15)
    assert sunday.weekday() == 6

    assert is_allowed(at=ct(2025, 6, 15, 11, 0), location=location) is False
    assert quiet_hours_reason(at=ct(2025, 6, 15, 11, 0), location=location) == (
        "quiet_hours_sunday_TX"
    )
    assert is_allowed(at=ct(2025, 6, 15, 12, 0), location=location) is True
    assert next_allowed_time(at=ct(2025, 6, 15, 11, 0), location=location) == ct(2025, 6, 15, 12)


def test_texas_saturday_opens_at_0900():
    location = recipient_location(phone="+15125550123")

    assert quiet_hours_reason(at=ct(2025, 6, 14, 8, 59), location=location) == (
        "quiet_hours_state_TX"
    )
    assert is_allowed(at=ct(2025, 6, 14, 9, 0), location=location) is True


def test_alabama_sunday_is_closed_all_day_until_monday_0800():
    location = recipient_location(phone="+12055550123")  # Birmingham, Central

    assert location.states == ("AL",)
    assert is_allowed(at=ct(2025, 6, 15, 14, 0), location=location) is False
    assert quiet_hours_reason(at=ct(2025, 6, 15, 14, 0), location=location) == (
        "quiet_hours_sunday_AL"
    )
    assert next_allowed_time(at=ct(2025, 6, 15, 9, 0), location=location) == utc(2025, 6, 16, 13, 0)


def test_profile_state_adds_its_rules_to_a_number_elsewhere():
    location = recipient_location(phone="+12125550123", state="fl")

    assert location.states == ("FL", "NY")
    assert is_allowed(at=ny(2025, 6, 10, 20, 30), location=location) is False


def test_state_daily_limit_is_three_for_capped_states_only():
    assert state_daily_limit(["NY", "FL"]) == 3
    assert state_daily_limit(("OK",)) == 3
    assert state_daily_limit(["MD"]) == 3
    assert state_daily_limit(["TX", "CT"]) is None
    assert state_daily_limit([]) is None


# --- DST ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "local_wall", "fold", "next_allowed"),
    [
        # Spring forward: 01:30 EST, half an hour before the jump; opens 08:00 EDT.
        (utc(2025, 3, 9, 6, 30), datetime(2025, 3, 9, 1, 30), 0, utc(2025, 3, 9, 12, 0)),
        # Fall back: first 01:30 (EDT), then second 01:30 (EST); opens 08:00 EST.
        (utc(2025, 11, 2, 5, 30), datetime(2025, 11, 2, 1, 30), 0, utc(2025, 11, 2, 13, 0)),
        (utc(2025, 11, 2, 6, 30), datetime(2025, 11, 2, 1, 30), 1, utc(2025, 11, 2, 13, 0)),
    ],
)
def test_dst_change_instants_in_new_york(instant, local_wall, fold, next_allowed):
    local = instant.astimezone(NEW_YORK)
    assert (local.replace(tzinfo=None), local.fold) == (local_wall, fold)

    assert is_allowed(at=instant, location=NY_PROFILE) is False
    assert next_allowed_time(at=instant, location=NY_PROFILE) == next_allowed


def test_window_follows_the_dst_offset_not_a_fixed_one():
    # 12:00Z is 08:00 EDT on the spring-forward day, 07:00 EST on the fall-back day.
    assert is_allowed(at=utc(2025, 3, 9, 11, 59), location=NY_PROFILE) is False
    assert is_allowed(at=utc(2025, 3, 9, 12, 0), location=NY_PROFILE) is True
    assert is_allowed(at=utc(2025, 11, 2, 12, 59), location=NY_PROFILE) is False
    assert is_allowed(at=utc(2025, 11, 2, 13, 0), location=NY_PROFILE) is True


def test_non_existent_local_time_is_read_as_an_instant_and_deferred():
    at = ny(2025, 3, 9, 2, 30)  # skipped by the jump; zoneinfo reads it as 07:30Z

    assert is_allowed(at=at, location=NY_PROFILE) is False
    assert next_allowed_time(at=at, location=NY_PROFILE) == utc(2025, 3, 9, 12, 0)


def test_ambiguous_local_time_honours_fold():
    first = datetime(2025, 11, 2, 1, 30, tzinfo=NEW_YORK, fold=0)
    second = datetime(2025, 11, 2, 1, 30, tzinfo=NEW_YORK, fold=1)

    assert (first.astimezone(UTC), second.astimezone(UTC)) == (
        utc(2025, 11, 2, 5, 30),
        utc(2025, 11, 2, 6, 30),
    )
    assert next_allowed_time(at=second, location=NY_PROFILE) == utc(2025, 11, 2, 13, 0)


def test_a_window_opening_inside_a_dst_gap_opens_at_the_jump():
    assert _wall_instant(date(2025, 3, 9), 2 * 60 + 30, NEW_YORK) == utc(2025, 3, 9, 7, 0)


def test_a_window_opening_in_a_repeated_hour_opens_at_the_first_one():
    assert _wall_instant(date(2025, 11, 2), 60 + 30, NEW_YORK) == utc(2025, 11, 2, 5, 30)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        is_allowed(at=datetime(2025, 6, 10, 12, 0), location=NY_PROFILE)


# --- Zones ----------------------------------------------------------------------------------


def test_number_in_an_area_code_spanning_two_zones_needs_both_open():
    assert time_zones_for_number(parse(PANHANDLE_PHONE)) == ("America/New_York",)
    location = recipient_location(phone=PANHANDLE_PHONE)
    assert location.zones == ("America/Chicago", "America/New_York")

    # 08:30 EDT is 07:30 CDT: federal closed in Chicago.
    assert quiet_hours_reason(at=ny(2025, 6, 10, 8, 30), location=location) == (
        "quiet_hours_federal"
    )
    assert is_allowed(at=ny(2025, 6, 10, 9, 0), location=location) is True
    # 20:00 EDT is 19:00 CDT: Florida closed in New York.
    assert quiet_hours_reason(at=ny(2025, 6, 10, 20, 0), location=location) == (
        "quiet_hours_state_FL"
    )
    assert next_allowed_time(at=ny(2025, 6, 10, 7, 0), location=location) == ny(2025, 6, 10, 9)


def test_idaho_number_in_two_phonenumbers_zones_needs_both_open():
    assert time_zones_for_number(parse(IDAHO_PHONE)) == ("America/Boise", "America/Los_Angeles")
    location = recipient_location(phone=IDAHO_PHONE)
    assert location.zones == ("America/Boise", "America/Denver", "America/Los_Angeles")

    # 14:30Z is 08:30 MDT but 07:30 PDT; 03:00Z is 21:00 MDT, 20:00 PDT.
    assert is_allowed(at=utc(2025, 6, 10, 14, 30), location=location) is False
    assert is_allowed(at=utc(2025, 6, 10, 15, 0), location=location) is True
    assert is_allowed(at=utc(2025, 6, 11, 2, 59), location=location) is True
    assert is_allowed(at=utc(2025, 6, 11, 3, 0), location=location) is False


@pytest.mark.parametrize(
    ("instant", "allowed"),
    [
        (utc(2025, 6, 10, 17, 59), False),
        (utc(2025, 6, 10, 18, 0), True),
        (utc(2025, 6, 10, 23, 59), True),
        (utc(2025, 6, 11, 0, 0), False),
        (utc(2025, 1, 10, 18, 0), True),
    ],
)
def test_us_number_with_no_zone_only_gets_1800_to_2400_utc(instant, allowed):
    location = recipient_location(phone=TOLL_FREE_PHONE)
    assert location.zones == ()

    assert is_allowed(at=instant, location=location) is allowed
    assert quiet_hours_reason(at=instant, location=location) == (
        None if allowed else "quiet_hours_unknown_zone"
    )


def test_us_number_with_no_zone_waits_for_1800_utc():
    location = recipient_location(phone=TOLL_FREE_PHONE)

    assert next_allowed_time(at=utc(2025, 6, 11, 0, 0), location=location) == utc(
        2025, 6, 11, 18, 0
    )


def test_profile_zone_beats_number_zones():
    location = recipient_location(
        profile_time_zone="America/Los_Angeles",
        phone="+12125550123",
        address_time_zone="America/Chicago",
    )

    assert location.zones == ("America/Los_Angeles",)
    assert is_allowed(at=ny(2025, 6, 10, 9, 0), location=location) is False  # 06:00 PDT
    assert is_allowed(at=ny(2025, 6, 10, 11, 0), location=location) is True


def test_address_zone_joins_the_number_zones():
    zones = candidate_zones(phone="+12125550123", address_time_zone="America/Los_Angeles")

    assert zones == ("America/Los_Angeles", "America/New_York")


def test_unknown_profile_zone_falls_back_to_the_number():
    location = recipient_location(profile_time_zone="Mars/Olympus", phone="+12125550123")

    assert location.zones == ("America/New_York",)


def test_non_us_number_with_no_zone_uses_the_configured_default(settings):
    settings.QUIET_HOURS_DEFAULT_TIME_ZONE = "Europe/Paris"

    location = recipient_location(phone="+80012345678")  # international freephone

    assert location == Recipient(zones=("Europe/Paris",), states=(), is_us=False)


def test_non_us_number_keeps_its_own_zone():
    location = recipient_location(phone="+4930123456")

    assert location == Recipient(zones=("Europe/Berlin",), states=(), is_us=False)


def test_no_overlap_between_zones_raises_instead_of_looping():
    # In June, 08:00-21:00 local is 07-20Z in London, 00-13Z in Shanghai, 15-04Z in LA.
    zones = ("America/Los_Angeles", "Asia/Shanghai", "Europe/London")
    location = Recipient(zones=zones, is_us=False)

    with pytest.raises(NoAllowedTime):
        next_allowed_time(at=utc(2025, 6, 10), location=location)


@pytest.mark.parametrize(
    "phone", [FLORIDA_PHONE, PANHANDLE_PHONE, IDAHO_PHONE, TOLL_FREE_PHONE, "+15125550123"]
)
def test_reason_agrees_with_is_allowed_and_next_allowed_is_tight(phone):
    location = recipient_location(phone=phone, state="AL")
    start = utc(2025, 3, 7)

    for step in range(0, 8 * 24 * 60, 7):
        at = start + timedelta(minutes=step)
        allowed = is_allowed(at=at, location=location)
        assert allowed is (quiet_hours_reason(at=at, location=location) is None)
        released = next_allowed_time(at=at, location=location)
        assert is_allowed(at=released, location=location) is True
        if not allowed:
            assert is_allowed(at=released - timedelta(minutes=1), location=location) is False


# --- Release spread and data ----------------------------------------------------------------


def test_release_spread_stays_in_the_first_minutes_and_is_stable_per_key():
    allowed_at = utc(2025, 6, 11, 12, 0)
    released = [release_spread(allowed_at=allowed_at, key=f"msg-{n}") for n in range(500)]

    assert all(allowed_at <= r < allowed_at + timedelta(minutes=15) for r in released)
    assert released[7] == release_spread(allowed_at=allowed_at, key="msg-7")
    assert len({r.minute for r in released}) == 15


def test_release_spread_of_zero_minutes_is_allowed_at():
    allowed_at = utc(2025, 6, 11, 12, 0)

    assert release_spread(allowed_at=allowed_at, key="msg-1", spread_minutes=0) == allowed_at


def test_every_rule_row_cites_a_source_and_a_verification_date():
    rows = json.loads(RULES_PATH.read_text(encoding="utf-8"))["rules"]

    states = {row["state"] for row in rows}
    assert states == {"US", "FL", "OK", "MD", "WA", "CT", "TX", "AL", "LA", "MS"}
    for row in rows:
        assert row["source"].strip()
        date.fromisoformat(row["verified_on"])
        assert isinstance(row["verified"], bool)
        assert row["sunday"] in ("default", "closed") or "-" in row["sunday"]
    assert {row["state"] for row in rows if row["max_per_24h"] == 3} == {"FL", "OK", "MD"}


@pytest.mark.parametrize(
    "area_code", ["305", "212", "512", "312", "213", "850", "208", "310", "203", "205", "907"]
)
def test_the_area_code_shortcut_agrees_with_a_full_parse(area_code):
    e164 = recipient_location(phone=f"+1{area_code}5550123")  # the cached area-code path
    national = recipient_location(phone=f"({area_code}) 555-0123")  # parsed in full
    assert (set(e164.zones), e164.states) == (set(national.zones), national.states)
    assert e164.zones
