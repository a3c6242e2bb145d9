"""Row by row: bad rows reported with their line while good rows land; dedupe; merging."""

import pytest

from compliance.models import ConsentEvent, Subscription
from profiles.models import Event, Profile
from tests.factories import ProfileFactory
from tests.profiles.test_import_helpers import error_rows, media, problems, run_import  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

MIXED = (
    "email,phone,first_name\n"
    "ada@example.com,+14155550101,Ada\n"  # line 2: good
    "not-an-email,+14155550102,Bob\n"  # line 3: invalid email
    "carol@example.com,12345,Carol\n"  # line 4: invalid phone
    "ADA@Example.com,,Ada again\n"  # line 5: duplicate of line 2 by email
    "dan@example.com,+1 (415) 555-0101,Dan\n"  # line 6: duplicate of line 2 by phone
    ",,Nobody\n"  # line 7: no identifier
    "erin@example.com,,Erin\n"  # line 8: good
)


def test_bad_rows_are_reported_with_line_and_reason_while_good_rows_land():
    job = run_import(MIXED)

    assert (job.created, job.updated, job.unchanged, job.failed) == (2, 0, 0, 5)
    assert set(Profile.objects.values_list("email", flat=True)) == {
        "ada@example.com",
        "erin@example.com",
    }
    assert problems(job) == [
        ("3", "invalid email address: 'not-an-email'"),
        ("4", "invalid phone number: '12345'"),
        ("5", "duplicate of line 2 (same email)"),
        ("6", "duplicate of line 2 (same phone)"),
        ("7", "no email, phone or external id"),
    ]


def test_the_error_file_keeps_the_original_row_with_formulas_escaped():
    job = run_import("email,first_name\n=HYPERLINK(1),=cmd|calc\n")

    [row] = error_rows(job)
    assert row == {
        "line": "2",
        "reason": "invalid email address: '=HYPERLINK(1)'",
        "email": "'=HYPERLINK(1)",
        "first_name": "'=cmd|calc",
    }


def test_an_existing_profile_is_matched_by_email_case_insensitively_and_fills_empty_fields():
    ProfileFactory(email="ada@example.com", phone=None, first_name="Ada", last_name="")

    job = run_import("Email,Phone,First Name,Last Name\nADA@EXAMPLE.COM,4155550123,Augusta,King\n")

    ada = Profile.objects.get()
    assert (job.created, job.updated) == (0, 1)
    assert (ada.first_name, ada.last_name, str(ada.phone)) == ("Ada", "King", "+14155550123")


def test_overwrite_replaces_existing_values():
    ProfileFactory(email="ada@example.com", first_name="Ada", time_zone="America/New_York")

    run_import("email,first_name,timezone\nada@example.com,Augusta,Europe/London\n", overwrite=True)

    ada = Profile.objects.get()
    assert (ada.first_name, ada.time_zone) == ("Augusta", "Europe/London")


def test_a_profile_is_matched_by_its_e164_phone_whatever_the_file_format():
    ProfileFactory(email=None, phone="+14155550177", first_name="")

    job = run_import("phone,first_name\n(415) 555-0177,Pat\n")

    assert (job.created, job.updated, Profile.objects.get().first_name) == (0, 1, "Pat")


def test_a_time_zone_column_becomes_the_profiles_zone_and_a_bad_one_fails_the_row():
    job = run_import("email,time_zone\na@example.com,america/chicago\nb@example.com,Mars/Base\n")

    assert Profile.objects.get(email="a@example.com").time_zone == "America/Chicago"
    assert problems(job) == [
        ("3", "'Mars/Base' is not an IANA time zone name (e.g. America/Chicago)")
    ]


def test_reimporting_the_same_file_changes_nothing():
    first = run_import(MIXED)
    stamps = dict(Profile.objects.values_list("email", "updated_at"))

    second = run_import(MIXED)

    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert dict(Profile.objects.values_list("email", "updated_at")) == stamps
    assert first.failed == second.failed == 5


def test_a_row_naming_two_existing_people_is_refused_not_merged():
    ProfileFactory(email="ada@example.com", phone="+14155550101")
    ProfileFactory(email="bob@example.com", phone="+14155550102")

    job = run_import("email,phone\nada@example.com,+14155550102\n")

    assert job.failed == 1
    assert "names two existing profiles" in problems(job)[0][1]
    assert Profile.objects.count() == 2


def test_two_rows_naming_one_existing_profile_by_different_identifiers_are_a_duplicate():
    ProfileFactory(email="ada@example.com", phone="+14155550101", first_name="")

    job = run_import("email,phone,first_name\nada@example.com,,Ada\n,+14155550101,Bob\n")

    assert problems(job) == [("3", "duplicate of line 2 (same profile)")]
    assert Profile.objects.get().first_name == "Ada"


def test_an_import_stores_no_events_so_no_journey_hears_of_it(heard_events):
    job = run_import(MIXED, enrol_in_journeys=False)

    assert job.created == 2
    assert heard_events == []
    assert Event.objects.count() == 0


def test_a_dry_run_counts_what_would_happen_and_writes_nothing():
    ProfileFactory(email="ada@example.com", first_name="")

    job = run_import(MIXED, dry_run=True, email_consent=True, source_name="Spring fair list")

    assert (job.created, job.updated, job.failed) == (1, 1, 5)
    assert job.consent_applied == 2
    assert Profile.objects.count() == 1
    assert Profile.objects.get().first_name == ""


def test_a_row_naming_two_existing_people_names_both_in_the_reason():
    ada = ProfileFactory(email="ada@example.com", phone="+14155550101", external_id=None)
    bob = ProfileFactory(email="bob@example.com", phone="+14155550102", external_id=None)

    job = run_import("email,phone\nada@example.com,+14155550102\n")

    assert problems(job) == [
        ("2", f"the row names two existing profiles ({ada.pk}, {bob.pk}); "
              "an import does not merge people"),
    ]  # fmt: skip


def test_a_row_with_another_external_id_than_its_profile_fails():
    ada = ProfileFactory(email="ada@example.com", external_id="crm-1", first_name="")

    job = run_import("external_id,email,first_name\ncrm-2,ADA@example.com,Ada\n")

    assert problems(job) == [("2", f"profile {ada.pk} has external id 'crm-1', the row 'crm-2'")]
    assert (job.failed, Profile.objects.get().first_name) == (1, "")


@pytest.mark.parametrize(
    ("overwrite", "traits"),
    [
        (False, {"plan": "pro", "tags": "old", "total_spent": "3"}),
        (True, {"plan": "pro", "tags": "new", "total_spent": "3"}),
    ],
)
def test_traits_merge_with_the_profiles_own_and_overwrite_decides_who_wins(overwrite, traits):
    ProfileFactory(email="ada@example.com", traits={"plan": "pro", "tags": "old"})

    job = run_import("email,tags,spent\nada@example.com,new,3\n", overwrite=overwrite,
                     mapping={"spent": "traits.total_spent"})  # fmt: skip

    assert (job.updated, Profile.objects.get().traits) == (1, traits)


def test_a_profile_that_keeps_its_email_gets_no_consent_for_the_rows_email():
    ada = ProfileFactory(email="ada@example.com", phone="+14155550101")

    job = run_import("email,phone,email_consent\nada.new@example.com,+14155550101,yes\n")

    ada.refresh_from_db()
    assert (ada.email, job.updated, job.consent_applied) == ("ada@example.com", 0, 0)
    assert problems(job) == [
        ("2", "warning: email consent not recorded: the profile keeps ada@example.com")
    ]
    assert not ConsentEvent.objects.exists()


def test_with_overwrite_the_rows_email_replaces_the_profiles_and_gets_the_consent():
    ada = ProfileFactory(email="ada@example.com", phone="+14155550101")

    job = run_import(
        "email,phone,email_consent\nada.new@example.com,+14155550101,yes\n", overwrite=True
    )

    ada.refresh_from_db()
    assert (ada.email, job.updated, job.consent_applied) == ("ada.new@example.com", 1, 1)
    assert ConsentEvent.objects.get().address == "ada.new@example.com"


def test_a_later_batch_naming_a_claimed_profile_by_its_other_identifier_is_a_duplicate(
    settings,
):
    settings.IMPORT_BATCH_SIZE = 2
    ProfileFactory(email="ada@example.com", phone="+14155550101", first_name="")

    job = run_import(
        "email,phone,first_name\nada@example.com,,Ada\nbob@example.com,,Bob\n"
        ",+14155550101,Augusta\n"
    )

    assert problems(job) == [("4", "duplicate of line 2 (same phone)")]
    assert (job.created, job.updated) == (1, 1)
    assert Profile.objects.get(phone="+14155550101").first_name == "Ada"


def test_a_dry_run_leaves_the_ledger_and_the_profiles_as_they_were():
    ProfileFactory(email="ada@example.com", first_name="")

    job = run_import(
        "email,first_name,email_consent\nada@example.com,Ada,yes\nnew@example.com,New,yes\n",
        dry_run=True,
    )

    assert (job.created, job.updated, job.consent_applied) == (1, 1, 2)
    assert Profile.objects.get().first_name == ""
    assert not ConsentEvent.objects.exists()
    assert not Subscription.objects.exists()
