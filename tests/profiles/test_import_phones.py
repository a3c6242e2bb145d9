"""The NANP shortcut gives exactly what phonenumbers gives, valid or not."""

import random

from phonenumbers.phonenumberutil import PhoneMetadata, _number_type_helper

from profiles.imports import phones

AREAS = ["415", "212", "416", "604", "268", "787", "809", "800", "555", "011", "999", "345"]


def test_the_shortcut_agrees_with_phonenumbers_on_typed_north_american_numbers():
    rng = random.Random(11)
    typed = []
    for _ in range(3000):
        area, exchange, line = rng.choice(AREAS), rng.randint(100, 999), rng.randint(0, 9999)
        typed.append(
            rng.choice(
                [f"+1{area}{exchange}{line:04d}", f"({area}) {exchange}-{line:04d}",
                 f"{area}.{exchange}.{line:04d}", f"1-{area}-{exchange}-{line:04d}"]
            )
        )  # fmt: skip

    answers = [phones.parse_phone(raw, "US") for raw in typed]

    assert answers == [phones.same_as_phonenumbers(raw, "US") for raw in typed]
    assert 0 < sum(1 for e164, _ in answers if e164) < len(typed)


def test_a_plus_without_the_1_is_another_country_code_not_an_area_code():
    phones.parse_phone("+1 303 555 0123", "US")  # the shortcut now knows area code 303

    assert phones.parse_phone("+3033135702", "US") == (None, False)  # +30: Greece
    assert phones.parse_phone("+30 21 0123 4567", "US") == ("+302101234567", False)
    assert phones.parse_phone("303-313-5702", "US") == ("+13033135702", True)


def test_a_uk_landline_is_valid_but_not_mobile():
    assert phones.parse_phone("+442071838750", "US") == ("+442071838750", False)
    assert phones.is_mobile("+447911123456") is True


def test_the_one_regex_number_type_agrees_with_phonenumbers_in_many_regions():
    rng = random.Random(5)
    for region in ["US", "CA", "PR", "JM", "GB", "DE", "FR", "AU", "IN", "BR"]:
        metadata = PhoneMetadata.metadata_for_region(region)
        for _ in range(2000):
            length = rng.choice([7, 8, 9, 10, 11])
            digits = str(rng.randrange(10 ** (length - 1), 10**length))

            assert phones.number_type(digits, region) == _number_type_helper(digits, metadata)


COUNTRY_CODES = [44, 33, 49, 39, 34, 7, 61, 64, 81, 91, 55, 52, 54, 27, 234, 353, 358, 47, 31,
                 32, 41, 43, 45, 46, 48, 351, 30, 90, 972, 971, 65, 852, 86, 82, 62]  # fmt: skip


def test_the_international_shortcut_agrees_with_phonenumbers():
    rng = random.Random(23)
    typed = []
    for _ in range(6000):
        code = rng.choice(COUNTRY_CODES)
        national = str(rng.randrange(10 ** rng.randint(5, 11)))
        if rng.random() < 0.5:  # mobile-looking numbers of the usual regions
            national = rng.choice(["7", "6", "15", "3", "9", "8", "1", "0"]) + national[:9]
        head, tail = national[:3], national[3:]
        typed.append(rng.choice([f"+{code}{national}", f"+{code} {head} {tail}",
                                 f"+{code}-{national}", f"+{code} ({head}) {tail}"]))  # fmt: skip

    answers = [phones.parse_phone(raw, "US") for raw in typed]

    assert answers == [phones.same_as_phonenumbers(raw, "US") for raw in typed]
    assert 0.1 * len(typed) < sum(1 for e164, _ in answers if e164) < len(typed)


def test_a_short_local_number_is_invalid_as_phonenumbers_says():
    rng = random.Random(29)
    typed = [
        "-".join(str(rng.randrange(10 ** rng.randint(1, 4))) for _ in range(rng.randint(1, 3)))
        for _ in range(2000)
    ]

    answers = [phones.parse_phone(raw, "US") for raw in typed]

    assert answers == [phones.same_as_phonenumbers(raw, "US") for raw in typed]
    assert phones.parse_phone("555-123", "US") == (None, False)
