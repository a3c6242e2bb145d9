"""The generated demo file has the mix README promises, as the importer itself counts it."""

import csv
from collections import Counter

import pytest
from django.core.management import call_command

from profiles.imports.demo import write_demo_file
from profiles.models import ImportJob
from tests.profiles.test_import_helpers import media  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def test_demo_file_has_two_percent_duplicates_and_one_percent_bad_emails_and_phones(tmp_path):
    path = tmp_path / "customers.csv"
    write_demo_file(path, rows=5000)

    call_command("import_profiles", str(path))

    job = ImportJob.objects.get()
    with job.error_file.open("rb") as handle:
        rows = list(csv.DictReader(handle.read().decode("utf-8-sig").splitlines()))
    reasons = Counter(row["reason"].split(":")[0].split(" of line")[0] for row in rows)
    assert 70 <= reasons["duplicate"] <= 130  # ~2%: the same email in another case
    assert 30 <= reasons["invalid email address"] <= 70  # ~1%
    assert 20 <= reasons["invalid phone number"] <= 60  # ~1% of the ~80% with a phone
    assert not [row for row in rows if row["Phone"].startswith("+44")]  # UK mobiles are valid
    assert set(reasons) == {"duplicate", "invalid email address", "invalid phone number"}
