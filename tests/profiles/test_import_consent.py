"""Consent on import: explicit columns or a named declaration; never over the person."""

from datetime import UTC, datetime

import pytest

from compliance.models import (
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Subscription,
    Suppression,
    SuppressionReason,
)
from compliance.services import consent_record, consent_status, suppression_add
from profiles.models import ImportStatus, Profile
from tests.factories import ProfileFactory, UserFactory
from tests.profiles.test_import_formats import MAILCHIMP_CLEANED
from tests.profiles.test_import_helpers import media, problems, run_import  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

SHOPIFY_HEADER = (
    "Customer ID,Email,Phone,Accepts Email Marketing,Accepts SMS Marketing,Total Spent\n"
)


def test_a_suppressed_number_stays_suppressed_after_an_import_claiming_consent():
    suppression_add(
        address="+14155550199",
        channel="sms",
        reason=SuppressionReason.SMS_STOP,
        source=ConsentSource.SMS_KEYWORD,
    )

    job = run_import(SHOPIFY_HEADER + "1,stop@example.com,+14155550199,no,yes,10.00\n")

    profile = Profile.objects.get(email="stop@example.com")
    event = ConsentEvent.objects.get(address="+14155550199")
    assert (job.created, job.consent_applied, job.consent_refused) == (1, 0, 1)
    assert (event.applied, event.source) == (False, "import")
    assert event.outcome == (
        "refused: address suppressed (STOP keyword); only the person can opt back in"
    )
    assert Suppression.objects.get(address="+14155550199").is_active
    assert consent_status(profile=profile, channel="sms") == ConsentStatus.NEVER


def test_a_reimport_refuses_an_opt_in_for_a_suppressed_address_beside_rows_it_leaves_alone():
    # The SQL judgement probes suppressions only where the verdict may read them: here the
    # unchanged rows ("already subscribed") and the one whose state differs, in one batch.
    csv = SHOPIFY_HEADER + (
        "1,ann@example.com,+14155550101,yes,yes,0\n2,bob@example.com,+14155550102,yes,yes,0\n"
    )
    run_import(csv)
    bob = Profile.objects.get(email="bob@example.com")
    consent_record(profile=bob, channel="sms", action="opt_out", source=ConsentSource.SMS_KEYWORD)
    suppression_add(
        address="+14155550102",
        channel="sms",
        reason=SuppressionReason.SMS_STOP,
        source=ConsentSource.SMS_KEYWORD,
    )
    suppression_add(
        address="ann@example.com",
        channel="email",
        reason=SuppressionReason.HARD_BOUNCE,
        source=ConsentSource.IMPORT,
    )

    job = run_import(csv)

    assert (job.unchanged, job.consent_applied, job.consent_refused) == (2, 0, 1)
    refused = ConsentEvent.objects.get(applied=False)
    assert (refused.address, refused.source) == ("+14155550102", "import")
    assert refused.outcome == (
        "refused: address suppressed (STOP keyword); only the person can opt back in"
    )
    assert consent_status(profile=bob, channel="sms") == ConsentStatus.UNSUBSCRIBED
    # Ann asked for the state she has: nothing written, whatever her address's suppression.
    assert ConsentEvent.objects.filter(address="ann@example.com").count() == 1


def test_reimporting_a_cleaned_address_adds_no_second_suppression():
    run_import(MAILCHIMP_CLEANED)

    job = run_import(MAILCHIMP_CLEANED)

    assert (job.consent_applied, job.consent_refused) == (0, 0)
    assert Suppression.objects.filter(address="gone@example.com").count() == 1
    assert not ConsentEvent.objects.filter(address="gone@example.com").exists()


def test_an_import_opt_in_never_lifts_the_persons_own_opt_out():
    ada = ProfileFactory(email="ada@example.com")
    consent_record(
        profile=ada, channel="email", action="opt_out", source=ConsentSource.PREFERENCE_CENTRE
    )

    job = run_import(SHOPIFY_HEADER + "1,ada@example.com,,yes,no,0\n")

    assert job.consent_refused == 1
    assert consent_status(profile=ada, channel="email") == ConsentStatus.UNSUBSCRIBED
    refused = ConsentEvent.objects.get(source="import")
    assert refused.outcome.startswith("refused: the person opted out (Preference centre)")


def test_a_declaration_records_consent_with_the_job_and_named_source_as_evidence():
    operator = UserFactory(username="ops-jane")

    job = run_import(
        "email,phone\nann@example.com,+14155550170\n",
        email_consent=True,
        source_name="Trade show sign-up sheet, 2025-03",
        created_by=operator,
    )

    event = ConsentEvent.objects.get()
    assert (event.channel, event.action, event.applied) == ("email", "opt_in", True)
    assert event.idempotency_key == f"import:{job.pk}:2:email"
    assert event.evidence == {
        "import_job": job.pk,
        "file": "list.csv",
        "line": 2,
        "source_name": "Trade show sign-up sheet, 2025-03",
        "basis": "operator declaration by ops-jane",
        "time_from_file": False,
    }
    assert event.occurred_at == job.started_at
    assert not Subscription.objects.filter(channel="sms").exists()  # email never implies SMS


def test_a_declaration_needs_a_source_name():
    job = run_import("email\nann@example.com\n", email_consent=True)

    assert job.status == ImportStatus.FAILED
    assert "needs a source name" in job.error_message
    assert Profile.objects.count() == 0


def test_a_declaration_is_refused_for_a_file_with_its_own_consent_column():
    job = run_import(
        SHOPIFY_HEADER + "1,ann@example.com,,no,no,0\n", email_consent=True, source_name="x"
    )

    assert job.status == ImportStatus.FAILED
    assert "has its own email consent column" in job.error_message
    assert not ConsentEvent.objects.exists()


def test_sms_consent_needs_a_mobile_number():
    job = run_import(
        "email,phone,sms_consent\nlandline@example.com,+442071838750,yes\n"
        "mobile@example.com,+447911123456,yes\n"
    )

    assert (job.created, job.failed, job.consent_applied) == (2, 0, 1)
    assert problems(job) == [
        ("2", "warning: SMS consent not recorded: +442071838750 is not a mobile number")
    ]
    assert list(ConsentEvent.objects.values_list("address", flat=True)) == ["+447911123456"]


def test_an_older_opt_out_in_the_file_does_not_undo_a_newer_subscription():
    ada = ProfileFactory(email="ada@example.com")
    consent_record(
        profile=ada,
        channel="email",
        action="opt_in",
        source=ConsentSource.SIGNUP_FORM,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
    )

    job = run_import(
        "Email,Email Marketing Consent,Email Marketing Consent Timestamp,Klaviyo ID\n"
        "ada@example.com,UNSUBSCRIBED,2024-05-01T00:00:00Z,01H\n"
    )

    assert job.consent_refused == 1
    assert consent_status(profile=ada, channel="email") == ConsentStatus.SUBSCRIBED


def test_reimporting_consent_records_nothing_new():
    csv = "email,email_consent,email_consent_at\nann@example.com,yes,2024-01-01 10:00:00\n"
    run_import(csv)

    second = run_import(csv)

    assert (second.consent_applied, second.consent_refused) == (0, 0)
    assert ConsentEvent.objects.count() == 1


def test_an_unknown_consent_value_fails_the_row():
    job = run_import("email,email_consent\nann@example.com,maybe\n")

    assert problems(job) == [("2", "unrecognised email consent value 'maybe'")]
    assert not Profile.objects.exists()


def test_each_subscription_an_import_writes_points_at_the_ledger_row_that_made_it():
    # last_event has no database constraint (compliance migration 0007): the import's SQL
    # alone keeps it right, for new profiles and for existing ones whose state changes.
    ada = ProfileFactory(email="ada@example.com")
    job = run_import(
        SHOPIFY_HEADER
        + "1,ada@example.com,,yes,no,0\n"
        + "2,bo@example.com,+14155550123,yes,yes,0\n"
        + "3,cy@example.com,,no,no,0\n"
    )

    assert job.consent_applied >= 3
    subscriptions = Subscription.objects.select_related("last_event", "profile")
    assert {(s.profile.email, s.channel) for s in subscriptions} >= {
        ("ada@example.com", "email"),
        ("bo@example.com", "email"),
        ("bo@example.com", "sms"),
    }
    for subscription in subscriptions:
        event = subscription.last_event
        assert (event.profile_id, event.channel) == (subscription.profile_id, subscription.channel)
        assert (event.source, event.applied) == ("import", True)
        assert event.evidence["import_job"] == job.pk
    assert Subscription.objects.get(profile=ada, channel="email").status == "subscribed"
