"""Imported profiles enter journeys only when the import says so."""

import pytest

from journeys.models import Enrollment
from profiles.imports.jobs import import_job_run
from tests.journeys.conftest import make_journey
from tests.profiles.test_import_helpers import make_job, media  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

ROWS = "email\nnew1@example.com\nnew2@example.com\n"


@pytest.mark.parametrize(("enrol", "entered"), [(False, 0), (True, 2)])
def test_enrol_in_journeys_decides_whether_new_profiles_enter(
    enrol, entered, django_capture_on_commit_callbacks
):
    journey = make_journey([{"key": "w", "type": "wait", "settings": {"days": 1}}],
                           trigger_type="profile_created")  # fmt: skip
    job = make_job(ROWS, enrol_in_journeys=enrol)
    with django_capture_on_commit_callbacks(execute=True):
        import_job_run(job_id=job.pk)
    assert Enrollment.objects.filter(journey=journey).count() == entered
