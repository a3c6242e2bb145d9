"""SMS marketing quiet hours: where a recipient may be, and when a text may reach them.

Pure functions over the rule table in data/quiet_hours_rules.json (no models, no database).
A send is allowed only if it is allowed in every candidate zone under every rule that may
apply: the federal row plus the rows of every state the recipient may be in.
"""

import bisect
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

RULES_PATH = Path(__file__).with_name("data") / "quiet_hours_rules.json"
FEDERAL = "US"
SEARCH_LIMIT = timedelta(days=8)
US_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})
# A US number with no zone: 18:00-24:00 UTC is inside 08:00-20:00 from Hawaii to Puerto Rico,
# and state rules are checked in each of these zones.
UNKNOWN_US_WINDOW = (18 * 60, 24 * 60)
US_SPAN_ZONES = tuple(
    "America/Anchorage America/Chicago America/Denver America/Los_Angeles America/New_York"
    " America/Phoenix America/Puerto_Rico Pacific/Honolulu".split()
)
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat")
ALL_DAY = (0, 24 * 60)
NANP_E164 = re.compile(r"\+1[2-9]\d{2}[2-9]\d{6}")

Window = tuple[int, int]
Week = tuple[Window | None, ...]  # Monday first; None: closed all day


class NoAllowedTime(ValueError):
    """No instant within SEARCH_LIMIT is allowed in every candidate zone."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where a recipient may be. Empty zones: a US number whose zone is unknown."""

    zones: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    is_us: bool = True

    @property
    def is_zone_unknown(self) -> bool:
        return not self.zones


@dataclass(frozen=True, slots=True)
class Rule:
    state: str
    week: Week
    has_sunday_rule: bool
    holidays: frozenset[date]
    max_per_24h: int | None

    def reason(self, local: datetime) -> str | None:
        """Why this rule forbids the local time, or None when it allows it."""
        if local.date() in self.holidays:
            return f"quiet_hours_holiday_{self.state}"
        if _inside(self.week[local.weekday()], local):
            return None
        if self.state == FEDERAL:
            return "quiet_hours_federal"
        if local.weekday() == 6 and self.has_sunday_rule:
            return f"quiet_hours_sunday_{self.state}"
        return f"quiet_hours_state_{self.state}"


@dataclass(frozen=True, slots=True)
class _Check:
    zone: tzinfo
    week: Week
    holidays: frozenset[date]


# --- Public API ---------------------------------------------------------------------------


def recipient_location(
    *, profile_time_zone: str = "", phone: str = "", address_time_zone: str = "", state: str = ""
) -> Recipient:
    """The profile's zone if valid; else the number's zones plus the address's zone.

    The area code's state stays even with a profile zone: Florida, for one, presumes that a
    number with a Florida area code reaches a Florida resident.
    """
    zones, states, is_us = _phone_facts(str(phone or "").strip(), _default_region())
    if code := _state_code(state):
        states = _unique((*states, code))
    if _is_zone(profile_time_zone):
        zones = (profile_time_zone,)
    elif _is_zone(address_time_zone):
        zones = _unique((*zones, address_time_zone))
    if not zones and not is_us:
        zones = (_default_zone(),)
    return Recipient(zones=zones, states=states, is_us=is_us)


def candidate_zones(
    *, profile_time_zone: str = "", phone: str = "", address_time_zone: str = ""
) -> tuple[str, ...]:
    """Candidate zones; an empty tuple means a US recipient in an unknown zone."""
    location = recipient_location(
        profile_time_zone=profile_time_zone, phone=phone, address_time_zone=address_time_zone
    )
    return location.zones


def is_allowed(*, at: datetime, location: Recipient) -> bool:
    _require_aware(at)
    return all(_is_open(check, at) for check in _plan(location))


def quiet_hours_reason(*, at: datetime, location: Recipient) -> str | None:
    """The first rule that forbids sending at `at`, as a reason code; None when allowed."""
    _require_aware(at)
    if location.is_zone_unknown and not _inside(UNKNOWN_US_WINDOW, at.astimezone(UTC)):
        return "quiet_hours_unknown_zone"
    for name in location.zones or US_SPAN_ZONES:
        local = at.astimezone(ZoneInfo(name))
        for rule in _rules_for(location.states):
            if reason := rule.reason(local):
                return reason
    return None


def next_allowed_time(*, at: datetime, location: Recipient) -> datetime:
    """The first instant >= at (in UTC) allowed in every candidate zone."""
    _require_aware(at)
    start = instant = at.astimezone(UTC)
    checks = _plan(location)
    while instant - start <= SEARCH_LIMIT:
        later = max(_next_open(check, instant) for check in checks)
        if later == instant:
            return instant
        instant = later
    raise NoAllowedTime(f"no allowed instant within {SEARCH_LIMIT} of {at.isoformat()}")


def release_spread(*, allowed_at: datetime, key: str, spread_minutes: int = 15) -> datetime:
    """allowed_at plus a stable per-key offset in [0, spread_minutes) minutes.

    The offset is not checked against the window: re-check is_allowed at dispatch.
    """
    _require_aware(allowed_at)
    if spread_minutes <= 0:
        return allowed_at.astimezone(UTC)
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    offset = int.from_bytes(digest, "big") % (spread_minutes * 60)
    return allowed_at.astimezone(UTC) + timedelta(seconds=offset)


def state_daily_limit(states: Iterable[str]) -> int | None:
    """The strictest marketing-text cap per rolling 24 h among the states, if any."""
    limits = [rule.max_per_24h for rule in _rules_for(tuple(states)) if rule.max_per_24h]
    return min(limits, default=None)


# --- Windows ------------------------------------------------------------------------------


def _inside(window: Window | None, local: datetime) -> bool:
    return window is not None and window[0] <= local.hour * 60 + local.minute < window[1]


def _is_open(check: _Check, at: datetime) -> bool:
    local = at.astimezone(check.zone)
    if not _inside(check.week[local.weekday()], local):
        return False
    return not check.holidays or local.date() not in check.holidays


def _next_open(check: _Check, instant: datetime) -> datetime:
    """The first instant >= instant open for this check (past the search limit if none)."""
    if _is_open(check, instant):
        return instant
    today = instant.astimezone(check.zone).date()
    for offset in range(SEARCH_LIMIT.days + 1):
        day = today + timedelta(days=offset)
        window = check.week[day.weekday()]
        if window is None or day in check.holidays:
            continue
        opening = _wall_instant(day, window[0], check.zone)
        if opening > instant:
            return opening
    return instant + SEARCH_LIMIT + timedelta(minutes=1)


def _wall_instant(day: date, minute: int, zone: tzinfo) -> datetime:
    """The first UTC instant at which the local time in zone reaches day + minute."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    instant = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: first of a repeated hour
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    return _after_gap(wall, zone)


def _after_gap(wall: datetime, zone: tzinfo) -> datetime:
    """A wall time skipped by a DST jump: the jump itself, found to the minute."""
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # local earlier than wall
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # local later than wall
    minutes = range(int((after - before) / timedelta(minutes=1)) + 1)
    step = bisect.bisect_left(
        minutes,
        True,
        key=lambda m: (before + timedelta(minutes=m)).astimezone(zone).replace(tzinfo=None) >= wall,
    )
    return before + timedelta(minutes=step)


def _intersect(weeks: Iterable[Week]) -> Week:
    days = []
    for windows in zip(*weeks, strict=True):
        if None in windows:
            days.append(None)
            continue
        start, end = max(w[0] for w in windows), min(w[1] for w in windows)
        days.append((start, end) if start < end else None)
    return tuple(days)


@lru_cache(maxsize=4096)
def _plan(location: Recipient) -> tuple[_Check, ...]:
    rules = _rules_for(location.states)
    week = _intersect(rule.week for rule in rules)
    holidays = frozenset().union(*(rule.holidays for rule in rules))
    checks = [_Check(ZoneInfo(name), week, holidays) for name in location.zones or US_SPAN_ZONES]
    if location.is_zone_unknown:
        checks.insert(0, _Check(UTC, (UNKNOWN_US_WINDOW,) * 7, frozenset()))
    return tuple(checks)


# --- Rule data ----------------------------------------------------------------------------


@cache
def _data() -> dict[str, Any]:
    return json.loads(RULES_PATH.read_text(encoding="utf-8"))


@cache
def _rules() -> dict[str, Rule]:
    return {row["state"]: _rule(row) for row in _data()["rules"]}


@lru_cache(maxsize=1024)
def _rules_for(states: tuple[str, ...]) -> tuple[Rule, ...]:
    rules = _rules()
    return (rules[FEDERAL], *(rules[s] for s in sorted(set(states)) if s in rules))


def _rule(row: dict[str, Any]) -> Rule:
    default = _window(row["window"]) if row["window"] else ALL_DAY
    week = tuple(_day(row["weekdays"].get(key), default) for key in DAY_KEYS)
    return Rule(
        state=row["state"],
        week=(*week, _day(row["sunday"], default)),
        has_sunday_rule=row["sunday"] != "default",
        holidays=frozenset(date.fromisoformat(day) for day in row["holidays"]),
        max_per_24h=row.get("max_per_24h"),
    )


def _day(value: str | None, default: Window) -> Window | None:
    if value in (None, "default"):
        return default
    return None if value == "closed" else _window(value)


def _window(text: str) -> Window:
    start, end = (int(part[:2]) * 60 + int(part[3:]) for part in text.split("-"))
    if not 0 <= start < end <= 24 * 60:
        raise ValueError(f"bad quiet-hours window {text!r}")
    return start, end


# --- Phone numbers and zones --------------------------------------------------------------


@lru_cache(maxsize=32768)
def _phone_facts(phone: str, default_region: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(zones, states, is_us) for a phone number; no zones when it could be anywhere."""
    if NANP_E164.fullmatch(phone) and (facts := _area_code_facts(phone[2:5])):
        return facts
    number = _parse(phone, default_region)
    if number is None:
        return (), (), default_region in US_REGIONS
    is_us = phonenumbers.region_code_for_number(number) in US_REGIONS
    return _number_zones(number), _number_states(number) if is_us else (), is_us


@cache
def _geocode_data() -> dict:
    """phonenumbers' place names, loaded on first use: ~96 MB that only a process deciding
    US texts needs (web workers, webhooks and imports never ask)."""
    from phonenumbers.geodata import GEOCODE_DATA

    return GEOCODE_DATA


@cache
def _area_code_facts(area_code: str) -> tuple[tuple[str, ...], tuple[str, ...], bool] | None:
    """Facts shared by every number of a NANP area code that has zone and place data.

    We take every zone of the area code anyway (see _number_zones), and an area code lies in
    one state, so the facts need no per-number parse (about 0.4 ms each, most of a cold
    decision). Area codes without data (toll-free, new overlays) take the full path.
    """
    zones = tuple(sorted(zone for zone in _area_code_zones().get(area_code, ()) if _is_zone(zone)))
    place = _geocode_data().get(f"1{area_code}", {}).get("en", "")
    if not zones or not place:
        return None
    state = _state_code(place)
    return zones, (state,) if state else (), True


def _parse(phone: str, default_region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _number_zones(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    zones = set(phone_timezone.time_zones_for_number(number)) - {phone_timezone.UNKNOWN_TIMEZONE}
    if number.country_code == 1:
        if zones == set(TIMEZONE_DATA["1"]):
            return ()  # toll-free or unmapped: anywhere in the NANP
        # Exchange-level zone data goes stale as numbers port: take every zone of the area code.
        zones |= _area_code_zones().get(phonenumbers.national_significant_number(number)[:3], set())
    return tuple(sorted(zone for zone in zones if _is_zone(zone)))


def _number_states(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    from phonenumbers import geocoder  # loads the place data too (see _geocode_data)

    code = _state_code(geocoder.description_for_number(number, "en"))
    return (code,) if code else ()


def _state_code(text: str) -> str:
    """'FL', 'Florida', 'Washington State' or the geocoder's 'Miami, FL' -> 'FL'; else ''."""
    names = _data()["state_names"]
    if text.strip() in names:
        return names[text.strip()]
    code = text.rpartition(", ")[2].strip().upper()
    return code if code in _state_codes() else ""


@cache
def _state_codes() -> frozenset[str]:
    return frozenset(_data()["state_names"].values())


@cache
def _area_code_zones() -> dict[str, frozenset[str]]:
    table: defaultdict[str, set[str]] = defaultdict(set)
    for prefix, zones in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            table[prefix[1:4]].update(zones)
    return {area_code: frozenset(zones) for area_code, zones in table.items()}


@lru_cache(maxsize=1024)
def _is_zone(name: str) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(items)))


def _require_aware(at: datetime) -> None:
    if at.utcoffset() is None:
        raise ValueError("quiet hours need an aware datetime")


def _default_region() -> str:
    return getattr(settings, "PHONE_DEFAULT_REGION", "US")


def _default_zone() -> str:
    return getattr(settings, "QUIET_HOURS_DEFAULT_TIME_ZONE", "America/New_York")
