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
