"""Each vendor's export imports as it comes: columns recognised, consent read their way."""

from datetime import UTC, datetime

import pytest

from compliance.models import ConsentEvent, ConsentStatus, Subscription, Suppression
from profiles.imports.formats import MappingError, detect, plan_for
from profiles.models import ImportFormat, ImportStatus, Profile
from tests.profiles.test_import_helpers import media, problems, run_import  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

# Mailchimp audience export, subscribed_members_export_<id>.csv (UTF-8, CRLF).
MAILCHIMP_SUBSCRIBED = (
    '"Email Address","First Name","Last Name",Address,"Phone Number",MEMBER_RATING,OPTIN_TIME,'
    "OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,"
    "LAST_CHANGED,LEID,EUID,NOTES,TAGS\r\n"
    'Ada.Lovelace@Example.com,Ada,Lovelace,,"(415) 555-0132",4,"2023-02-01 09:00:00",'
    '203.0.113.9,"2023-02-01 09:05:12",203.0.113.9,37.77,-122.41,-8,-7,America/Los_Angeles,'
    'US,CA,"2024-01-05 10:00:00",44877845,c2cb0681af,,"""VIP"",""Newsletter"""\r\n'
    'grace@example.com,Grace,Hopper,,,2,"2022-06-01 12:00:00",,,,,,,,,GB,,'
    '"2022-06-01 12:00:00",44877846,d3cb0681af,,\r\n'
)
MAILCHIMP_UNSUBSCRIBED = (
    '"Email Address","First Name","Last Name",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,'
    "CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,"
    "NOTES,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER\r\n"
    'alan@example.com,Alan,Turing,1,"2021-01-01 08:00:00",,"2021-01-01 08:01:00",,,,,,,,,'
    '"2024-03-02 10:00:00",44877847,e4cb0681af,,"2024-03-02 10:00:00","Spring sale",'
    'a1b2c3d4,"I didn\'t sign up",\r\n'
)
MAILCHIMP_CLEANED = (
    '"Email Address","First Name","Last Name",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,'
    "CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,"
    "NOTES,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID\r\n"
    'gone@example.com,,,1,"2020-01-01 08:00:00",,,,,,,,,,,"2023-09-09 09:09:09",1,f5,,'
    '"2023-09-09 09:09:09","Autumn",z9\r\n'
)
# Shopify admin > Customers > Export (customers_export.csv), current layout.
SHOPIFY = (
    "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
    "Default Address Address1,Default Address Address2,Default Address City,"
    "Default Address Province Code,Default Address Country Code,Default Address Zip,"
    "Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,"
    "Tax Exempt,Tags\n"
    "7051234567890,Katherine,Johnson,katherine@example.com,yes,,1 Main St,,Hampton,VA,US,"
    '23669,,\'+14155550140,yes,120.50,3,,no,"vip, newsletter"\n'
    "7051234567891,Dorothy,Vaughan,dorothy@example.com,no,,,,,,US,,+14155550141,,no,0.00,0,,"
    "no,\n"
)
# Klaviyo: Lists & segments > export to CSV.
KLAVIYO = (
    "Email,Klaviyo ID,First Name,Last Name,Organization,Title,Phone Number,Address,Address 2,"
    "City,State / Region,Country,Zip Code,Latitude,Longitude,Source,IP Address,"
    "Email Marketing Consent,Email Marketing Consent Timestamp,SMS Marketing Consent,"
    "SMS Marketing Consent Timestamp,Timezone,Profile Created On,Date Added\n"
    "mary@example.com,01HABCDEF,Mary,Jackson,,,+14155550150,,,Hampton,Virginia,"
    "United States,23669,,,Shopify,,SUBSCRIBED,2024-04-01T12:30:00+00:00,SUBSCRIBED,"
    "2024-04-02T08:00:00+00:00,America/New_York,2024-04-01T12:30:00+00:00,2024-04-01\n"
    "annie@example.com,01HABCDEG,Annie,Easley,,,,,,,,,,,,,,UNSUBSCRIBED,"
    "2024-05-01T00:00:00Z,NEVER_SUBSCRIBED,,,2023-01-01T00:00:00+00:00,2023-01-01\n"
)


def test_mailchimp_subscribed_export_lands_with_its_confirm_times():
    job = run_import(MAILCHIMP_SUBSCRIBED, name="subscribed_members_export_9f.csv")

    assert (job.status, job.format, job.created, job.failed) == ("done", "mailchimp", 2, 0)
    ada = Profile.objects.get(email="ada.lovelace@example.com")
    assert (str(ada.phone), ada.time_zone, ada.country) == (
        "+14155550132",
        "America/Los_Angeles",
        "US",
    )
    assert ada.traits == {"mailchimp_member_rating": "4", "tags": '"VIP","Newsletter"'}
    event = ConsentEvent.objects.get(profile=ada)
    assert (event.action, event.source, event.applied) == ("opt_in", "import", True)
    assert event.occurred_at == datetime(2023, 2, 1, 9, 5, 12, tzinfo=UTC)  # CONFIRM_TIME
    grace = ConsentEvent.objects.get(address="grace@example.com")
    assert grace.occurred_at == datetime(2022, 6, 1, 12, 0, tzinfo=UTC)  # OPTIN_TIME


def test_mailchimp_unsubscribed_export_records_the_opt_out_at_its_time():
    job = run_import(MAILCHIMP_UNSUBSCRIBED)

    alan = Profile.objects.get(email="alan@example.com")
    event = ConsentEvent.objects.get(profile=alan)
    assert (job.format, event.action, event.occurred_at.year) == ("mailchimp", "opt_out", 2024)
    assert Subscription.objects.get(profile=alan).status == ConsentStatus.UNSUBSCRIBED


def test_mailchimp_cleaned_export_suppresses_the_address_without_consent():
    run_import(MAILCHIMP_CLEANED)

    suppression = Suppression.objects.get(address="gone@example.com")
    assert (suppression.reason, suppression.source) == ("hard_bounce", "import")
    assert not ConsentEvent.objects.filter(address="gone@example.com").exists()


def test_shopify_export_reads_yes_as_consent_and_no_as_nothing():
    job = run_import(SHOPIFY, name="customers_export.csv")

    assert (job.format, job.created, job.consent_applied) == ("shopify", 2, 2)
    katherine = Profile.objects.get(email="katherine@example.com")
    assert str(katherine.phone) == "+14155550140"  # Excel's leading apostrophe dropped
    assert katherine.traits["shopify_customer_id"] == "7051234567890"
    assert katherine.traits["tags"] == "vip, newsletter"
    channels = set(ConsentEvent.objects.filter(profile=katherine).values_list("channel", "action"))
    assert channels == {("email", "opt_in"), ("sms", "opt_in")}
    assert not ConsentEvent.objects.filter(address="dorothy@example.com").exists()


def test_klaviyo_export_uses_its_consent_columns_and_timestamps():
    job = run_import(KLAVIYO, name="klaviyo-segment.csv")

    assert (job.format, job.created, job.failed) == ("klaviyo", 2, 0)
    mary = Profile.objects.get(email="mary@example.com")
    assert (mary.time_zone, mary.traits["country_name"]) == ("America/New_York", "United States")
    sms = ConsentEvent.objects.get(profile=mary, channel="sms")
    assert sms.occurred_at == datetime(2024, 4, 2, 8, 0, tzinfo=UTC)
    annie = ConsentEvent.objects.get(address="annie@example.com")
    assert (annie.channel, annie.action) == ("email", "opt_out")


def test_plain_csv_headers_are_matched_by_their_common_aliases():
    job = run_import(
        "E-mail;Mobile;Given Name;Surname;Time Zone\n"
        "lin@example.com;+44 7911 123456;Lin;Wei;Europe/London\n"
    )

    lin = Profile.objects.get(email="lin@example.com")
    assert job.format == ImportFormat.PLAIN
    assert (str(lin.phone), lin.first_name, lin.last_name) == ("+447911123456", "Lin", "Wei")
    assert lin.time_zone == "Europe/London"


def test_an_explicit_mapping_overrides_the_guess():
    job = run_import(
        "Contact,Notes,Email\nmax@example.com,likes jazz,old@example.com\n",
        mapping={"Contact": "email", "Email": "-", "Notes": "traits.notes"},
    )

    assert job.created == 1
    assert Profile.objects.get().traits == {"notes": "likes jazz"}
    assert Profile.objects.get().email == "max@example.com"


def test_a_file_without_an_identifier_column_is_refused_before_any_row():
    job = run_import("First Name,Last Name\nAda,Lovelace\n")

    assert job.status == ImportStatus.FAILED
    assert job.error_message.startswith("no identifier column")
    assert Profile.objects.count() == 0


def test_detection_of_each_format_from_headers_alone():
    assert detect(["Email Address", "MEMBER_RATING"]).format == "mailchimp"
    assert detect(["Email", "Accepts Email Marketing", "Total Spent"]).format == "shopify"
    assert detect(["Email", "Klaviyo ID"]).format == "klaviyo"
    assert detect(["email"]).format == "plain"
    with pytest.raises(MappingError, match="unknown field 'mail'"):
        plan_for(["Email"], {"Email": "mail"})
