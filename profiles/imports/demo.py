"""A realistic Shopify customers export of any size, for the demo and the benchmark.

Mix: ~80% with a phone (US formats as people type them, some UK mobiles, Excel's leading
apostrophe), ~60% accepting email marketing, ~25% SMS, ~2% duplicates of an earlier row
(email in other case), ~1% invalid emails and ~1% invalid phones.
"""

import csv
import random
from pathlib import Path

HEADER = [
    "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
    "Default Address Company", "Default Address Address1", "Default Address Address2",
    "Default Address City", "Default Address Province Code", "Default Address Country Code",
    "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
    "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
]  # fmt: skip
FIRST = "Ada Grace Alan Katherine Dorothy Mary Annie Edsger Barbara Linus Margaret Donald".split()
LAST = "Lovelace Hopper Turing Johnson Vaughan Jackson Easley Dijkstra Liskov Knuth".split()
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]
AREAS = ["415", "212", "646", "312", "305", "617", "206", "512", "303", "404", "702", "213"]
CITIES = [("San Francisco", "CA"), ("New York", "NY"), ("Chicago", "IL"), ("Miami", "FL"),
          ("Boston", "MA"), ("Seattle", "WA"), ("Austin", "TX"), ("Denver", "CO")]  # fmt: skip
TAGS = ["", "", "vip", "newsletter", "wholesale", "vip, newsletter"]


def write_demo_file(path: str | Path, *, rows: int, seed: int = 2025, variant: int = 0) -> None:
    """Write `rows` customers; `variant` changes ~10% of first names (a re-import test)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for index in range(rows):
            writer.writerow(_row(rng, seed, index, variant))


def _row(rng: random.Random, seed: int, index: int, variant: int) -> list[str]:
    first, last, email = _person(seed, index)
    roll = rng.random()
    if roll < 0.02 and index > 10:
        # An earlier customer again, email typed in another case: a duplicate in the file.
        first, last, email = _person(seed, rng.randrange(index))
        email = email.upper()
    elif roll < 0.03:
        email = email.replace("@", " at ")
    if variant and index % 10 == 0:
        first = first + "e"
    city, province = rng.choice(CITIES)
    phone = _phone(rng) if rng.random() < 0.8 else ""
    return [
        str(7_000_000_000_000 + index), first, last, email,
        "yes" if rng.random() < 0.6 else "no", "", f"{rng.randint(1, 999)} Main St", "",
        city, province, "US", f"{rng.randint(10000, 99999)}", "", phone,
        "yes" if phone and rng.random() < 0.3 else "no",
        f"{rng.uniform(0, 900):.2f}", str(rng.randint(0, 12)), "", "no", rng.choice(TAGS),
    ]  # fmt: skip


def _person(seed: int, index: int) -> tuple[str, str, str]:
    """First name, last name and email of customer `index`, the same every time it is asked."""
    own = random.Random(seed * 10_000_019 + index)
    first, last = own.choice(FIRST), own.choice(LAST)
    return first, last, f"{first}.{last}{index}@{own.choice(DOMAINS)}".lower()


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.01:
        return f"555-{rng.randint(100, 999)}"  # too short: invalid
    if rng.random() < 0.03:
        # 07911 1xxxxx and 2xxxxx are allocated (libphonenumber); 3xxxxx to 6xxxxx are not.
        return f"+44 7911 {rng.randint(100000, 299999)}"
    area, exchange, line = rng.choice(AREAS), rng.randint(201, 989), rng.randint(0, 9999)
    if exchange % 100 == 11 or exchange == 555:
        exchange += 1
    style = rng.random()
    if style < 0.4:
        return f"+1{area}{exchange}{line:04d}"
    if style < 0.7:
        return f"({area}) {exchange}-{line:04d}"
    if style < 0.9:
        return f"{area}-{exchange}-{line:04d}"
    return f"'+1 {area} {exchange} {line:04d}"
