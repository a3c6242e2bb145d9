"""Send decisions per second on one core: compliance.decide.decide over 100k profiles.

    .venv/bin/python bench/decide.py [--profiles 100000] [--passes 2] [--seed 7]

decide() is pure, so no database is involved: the script builds 100,000 unsaved profiles
with mixed locations (a quarter with an IANA zone of their own; the rest known only by
their number, across single-zone, two-zone and zone-less area codes; a tenth carrying a
US state trait), consent facts, 0-5 recent sends each, and the three default caps (state
limit, 3 a day across channels, a 60-minute gap). It then decides one SMS or email
marketing message per profile at a random instant over a week, and prints decisions/s for
each pass (the first pass also parses every phone number once) and the outcome mix.

The anchor: at least 20,000 decisions/s per core.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from compliance.decide import Cap, ChannelFacts, Facts, RecentSend, decide  # noqa: E402
from profiles.models import Profile  # noqa: E402

TARGET = 20_000
ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
         "America/Phoenix", "Pacific/Honolulu", "Europe/London", "Europe/Berlin",
         "Asia/Tokyo", "Australia/Sydney"]  # fmt: skip
# Miami, Manhattan, Chicago, Austin, LA, Hartford, Birmingham AL, FL panhandle (two zones),
# Boise (two zones), toll-free (no zone), Seattle, Baltimore, Oklahoma City, London mobile.
PREFIXES = ["+1305", "+1212", "+1312", "+1512", "+1213", "+1203", "+1205", "+1850", "+1208",
            "+1800", "+1206", "+1410", "+1405", "+447700"]  # fmt: skip
STATES = ["FL", "TX", "CT", "CA", "NY", "MD"]
CAPS = (
    Cap(key="state-sms-24h", kind="state_sms", channel="sms", action="defer"),
    Cap(
        key="any-channel-daily",
        kind="count",
        channel="any",
        action="defer",
        max_messages=3,
        window_hours=24,
    ),  # fmt: skip
    Cap(key="min-gap", kind="gap", channel="any", action="defer", min_gap_minutes=60),
)
START = datetime(2025, 6, 9, tzinfo=UTC)


def build(count: int, rng: random.Random) -> list[tuple]:
    cases = []
    for n in range(count):
        prefix = rng.choice(PREFIXES)
        phone = f"{prefix}{rng.randrange(2_000_000, 9_999_999):07d}"[:13]
        traits = {"state": rng.choice(STATES)} if rng.random() < 0.1 else {}
        zone = rng.choice(ZONES) if rng.random() < 0.25 else ""
        profile = Profile(pk=n + 1, email=f"p{n}@example.com", phone=phone, time_zone=zone,
                          traits=traits)  # fmt: skip
        status = rng.choices(["subscribed", "never", "unsubscribed"], [85, 10, 5])[0]
        facts = Facts(channels={
            "email": ChannelFacts(address=profile.email, status="subscribed",
                                  channel_status="subscribed"),
            "sms": ChannelFacts(address=phone, status=status, channel_status=status),
        })  # fmt: skip
        at = START + timedelta(minutes=rng.randrange(7 * 24 * 60))
        sends = [RecentSend(at=at - timedelta(minutes=rng.randrange(1, 48 * 60)),
                            channel=rng.choice(["sms", "email"]))
                 for _ in range(rng.randrange(0, 6))]  # fmt: skip
        cases.append((profile, rng.choice(["sms", "sms", "email"]), at, sends, facts))
    return cases


def run(cases: list[tuple]) -> tuple[float, Counter]:
    outcomes: Counter = Counter()
    started = time.perf_counter()
    for profile, channel, at, sends, facts in cases:
        decision = decide(profile=profile, channel=channel, category="marketing", topic=None,
                          at=at, recent_sends=sends, facts=facts, caps=CAPS)  # fmt: skip
        outcomes[decision.outcome.value] += 1
    return time.perf_counter() - started, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    cases = build(args.profiles, random.Random(args.seed))
    for number in range(1, args.passes + 1):
        elapsed, outcomes = run(cases)
        rate = len(cases) / elapsed
        verdict = "meets" if rate >= TARGET else "BELOW"
        print(f"pass {number}: {len(cases):,} decisions in {elapsed:.2f} s = {rate:,.0f}/s "
              f"on one core ({verdict} the anchor of {TARGET:,}/s)")  # fmt: skip
    print("outcomes (last pass):", dict(sorted(outcomes.items())))


if __name__ == "__main__":
    main()
