"""The background job's compiled row cleaner judges every row as the admin's preview does."""

import pytest

from profiles.imports.formats import plan_for
from profiles.imports.resource import ProfileResource, RowInvalid, row_values

SHOPIFY = ["Customer ID", "First Name", "Email", "Accepts Email Marketing", "Phone",
           "Default Address Phone", "Accepts SMS Marketing", "Total Spent", "Tags"]  # fmt: skip
MAILCHIMP = ["Email Address", "First Name", "MEMBER_RATING", "OPTIN_TIME", "UNSUB_TIME", "TAGS"]
KLAVIYO = ["Email", "Phone Number", "External ID", "First Name", "Timezone", "Locale",
           "Email Marketing Consent", "Email Marketing Consent Timestamp", "SMS Consent",
           "Klaviyo ID", "City"]  # fmt: skip
PLAIN = ["Name", "E-mail", "Mobile", "Country", 'Favourite "colour"\n', "Notes"]
RECORDS = {
    "shopify": (SHOPIFY, [
        ["7001", "Ada", "Ada@Example.com", "yes", "", "'+1 415 555 0101", "yes", "12.50", " vip "],
        ["7002", " Grace ", "grace@example.com", "no", "(415) 555-0102", "+14155550199", "no",
         "", "   "],
        ["7003", "Alan", "not-an-email", "maybe", "12345", "", "", "", ""],
        ["7004", "", "", "", "", "", "", "", ""],
        ["7005", "Kat", "kat@example.com", "yes"],  # a short record
    ]),
    "mailchimp": (MAILCHIMP, [
        ["ada@example.com", "Ada", "4", "2024-01-02 03:04:05", "2025-02-03 04:05:06", "a, b"],
        ["bob@example.com", "Bob", "2", "2024-01-02 03:04:05", "", ""],
        ["carl@example.com", "Carl", "1", "", "yesterday", ""],
    ]),
    "klaviyo": (KLAVIYO, [
        ["ada@example.com", "+44 7911 123456", "k-1", "Ada", "europe/london", "en-GB",
         "SUBSCRIBED", "2024-05-01T10:00:00Z", "yes", "01HX", "London"],
        ["", "", "k-2", "", "Mars/Olympus", "", "", "", "", "", ""],
        ["", "", "", "Nobody", "", "", "NEVER_SUBSCRIBED", "", "", "01HY", " "],
        ["bad@", "+1 415 555", "k-4", "", "", "", "sometimes", "noon", "", "", ""],
    ]),
    "plain with a full name": (PLAIN, [
        ["Ada Lovelace", "ADA@example.com", "+1 (415) 555-0101", "gb", "teal", " n "],
        ["Grace", "grace@example.com", "", "", "", ""],
        ["Alan  Mathison Turing", "", "07911 123456", "USA", "", ""],
        ["", "", "", "", "red", "only traits"],
        ["Kat Doe", "kat@example.com", "415 555 0102", "", "", "", "", "  "],  # extra blanks
    ]),
}  # fmt: skip


def _outcome(clean, line, *args):
    try:
        row = clean(line, *args)
    except RowInvalid as exc:
        return ("invalid", str(exc))
    return (row.values, row.traits, row.email_consent, row.email_consent_at, row.sms_consent,
            row.sms_consent_at, row.keys(), row.hashes())  # fmt: skip


@pytest.mark.parametrize("export", sorted(RECORDS))
def test_the_job_and_the_preview_clean_a_row_the_same_way(export):
    headers, records = RECORDS[export]
    plan = plan_for(headers)
    if export.startswith("plain"):  # the operator maps what the guess cannot
        plan = plan_for(headers, {headers[4]: "traits.colour", "Notes": "traits.notes"})
    resource = ProfileResource()
    compiled, values = resource.row_cleaner(plan, headers), row_values(plan, headers)

    for line, cells in enumerate(records, start=2):
        expected = _outcome(lambda n, c: resource.clean_values(n, values(c)), line, cells)
        assert _outcome(compiled, line, cells) == expected


def test_the_first_filled_phone_column_wins_and_blank_traits_are_left_out():
    plan = plan_for(SHOPIFY)
    clean = ProfileResource().row_cleaner(plan, SHOPIFY)

    ada, grace = (clean(n, cells) for n, cells in enumerate(RECORDS["shopify"][1][:2], start=2))

    assert ada.values["phone"] == "+14155550101"  # "Phone" empty: "Default Address Phone"
    assert ada.mobile is True  # a North American number may be a mobile
    assert ada.traits == {"shopify_customer_id": "7001", "total_spent": "12.50", "tags": "vip"}
    assert grace.values["phone"] == "+14155550102"  # "Phone" filled: it wins
    assert grace.values["first_name"] == "Grace"
    assert grace.traits == {"shopify_customer_id": "7002"}


def test_two_columns_feeding_one_trait_and_a_header_that_is_not_a_name():
    headers = ["Email", "Tag A", "Tag B", "x'); import os #"]
    mapping = {"Tag A": "traits.tag", "Tag B": "traits.tag", headers[3]: "traits.x'); import os #"}
    plan = plan_for(headers, mapping)
    compiled = ProfileResource().row_cleaner(plan, headers)

    first = compiled(2, ["a@example.com", "", "b", "c"])
    second = compiled(3, ["b@example.com", "a", "b", ""])

    assert first.traits == {"tag": "b", "x'); import os #": "c"}
    assert second.traits == {"tag": "a"}
    assert first.hashes() == [hash(("email", "a@example.com"))]


def test_a_landline_is_known_not_to_take_sms_and_a_row_without_a_phone_says_nothing():
    clean = ProfileResource().row_cleaner(plan_for(SHOPIFY), SHOPIFY)
    row = ["7010", "Lin", "lin@example.com", "no", "+44 20 7183 8750", "", "no", "", ""]

    landline, no_phone = clean(2, row), clean(3, RECORDS["shopify"][1][4])

    assert (landline.values["phone"], landline.mobile) == ("+442071838750", False)
    assert no_phone.mobile is None


def test_a_remembered_answer_is_the_same_the_second_time():
    plan = plan_for(SHOPIFY)
    clean = ProfileResource().row_cleaner(plan, SHOPIFY)
    record = ["7003", "Alan", "alan@example.com", "maybe", "", "", "", "", ""]

    reasons = [_outcome(clean, line, record) for line in (2, 3)]

    assert reasons[0] == reasons[1] == ("invalid", "unrecognised email consent value 'maybe'")
