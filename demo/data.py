"""Deterministic demo people: names, reachable addresses, zones and a shopping history."""

import random
import unicodedata
from datetime import timedelta
from decimal import Decimal

FIRST_NAMES = [
    "Ava", "Ben", "Chloé", "Dev", "Elif", "Femi", "Grace", "Hiro", "Inés", "Jonas",
    "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
]  # fmt: skip
LAST_NAMES = [
    "Adams", "Brown", "Costa", "Diaz", "Evans", "Fischer", "García", "Huang", "Ito", "Jones",
    "Khan", "López", "Müller", "Nguyen", "Okafor", "Patel", "Rossi", "Smith", "Tanaka", "Ueda",
]  # fmt: skip
# (area code, IANA zone) pairs; 555-01xx numbers are reserved for fiction.
US_AREAS = [
    ("212", "America/New_York"), ("305", "America/New_York"), ("312", "America/Chicago"),
    ("214", "America/Chicago"), ("303", "America/Denver"), ("602", "America/Phoenix"),
    ("415", "America/Los_Angeles"), ("206", "America/Los_Angeles"), ("808", "Pacific/Honolulu"),
    ("907", "America/Anchorage"),
]  # fmt: skip
PRODUCTS = [("Trail Shoe", "89.00"), ("Rain Jacket", "149.00"), ("Wool Socks", "18.50"),
            ("Day Pack", "64.00"), ("Water Bottle", "24.00")]  # fmt: skip


def person(index: int, rng: random.Random) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    area, zone = US_AREAS[index % len(US_AREAS)]
    has_email = rng.random() < 0.9
    has_phone = rng.random() < 0.6 or not has_email
    return {
        "external_id": f"demo-{index:04d}",
        "email": _ascii(f"{first}.{last}.{index}@example.com") if has_email else None,
        "phone": f"+1{area}55501{index // len(US_AREAS) % 100:02d}" if has_phone else None,
        "first_name": first,
        "last_name": last,
        # A third have no stored zone: quiet hours then fall back to the number's zones.
        "time_zone": zone if rng.random() < 0.66 else "",
        "country": "US",
        "locale": "en-US",
        "traits": {"loyalty_tier": rng.choice(["bronze", "silver", "gold"]), "demo": True},
    }


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def shopping_history(rng: random.Random, now) -> list[dict]:
    events = []
    for _ in range(rng.randint(0, 4)):
        product, price = rng.choice(PRODUCTS)
        at = now - timedelta(days=rng.randint(0, 90), minutes=rng.randint(0, 1440))
        events.append({"name": "Product Viewed", "at": at, "properties": {"product": product}})
        if rng.random() < 0.5:
            props = {"products": [{"name": product, "price": price}], "value": price}
            events.append({"name": "Checkout Started", "at": at + timedelta(minutes=5),
                           "properties": props})  # fmt: skip
            if rng.random() < 0.6:
                events.append({"name": "Order Completed", "at": at + timedelta(minutes=9),
                               "properties": {**props, "revenue": price},
                               "value": Decimal(price)})  # fmt: skip
    return events


# (channel, action, source) plans, drawn per person: a realistic mix of states.
EMAIL_CONSENT = [
    (0.70, "opt_in", "signup_form"),
    (0.10, "opt_out", "one_click"),
    (0.05, "pending", "signup_form"),
]
SMS_CONSENT = [
    (0.50, "opt_in", "signup_form"),
    (0.10, "opt_out", "sms_keyword"),
    (0.10, "pending", "signup_form"),
]


def consent_plan(rng: random.Random, plans: list[tuple[float, str, str]]) -> tuple[str, str] | None:
    roll = rng.random()
    for share, action, source in plans:
        if roll < share:
            return action, source
        roll -= share
    return None
