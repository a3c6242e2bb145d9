"""Background jobs: batches commit with their counters; a restarted worker resumes exactly."""

import random
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from compliance.models import ConsentEvent
from profiles.imports.jobs import import_job_run, import_job_task
from profiles.models import ImportJob, ImportStatus, Profile
from tests.profiles.test_import_helpers import error_rows, make_job, media  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

SEVEN_ROWS = "email,phone\n" + "".join(
    [
        "p1@example.com,+14155550201\n",
        "p2@example.com,+14155550202\n",
        "broken,+14155550203\n",
        "p4@example.com,+14155550204\n",
        "p5@example.com,+14155550205\n",
        "p1@example.com,\n",
        "p7@example.com,+14155550207\n",
    ]
)


@pytest.fixture
def small_batches(settings):
    settings.IMPORT_BATCH_SIZE = 2


def test_a_job_killed_after_a_batch_resumes_after_it_without_duplicates(small_batches):
    job = make_job(SEVEN_ROWS, email_consent=True, source_name="Old CRM export")
    import_job_run(job_id=job.pk, max_batches=2)  # the worker dies after two commits
    job.refresh_from_db()
    assert (job.status, job.committed_offset, job.created, job.failed) == ("running", 4, 3, 1)
    with open(job.error_file.path, "a", encoding="utf-8") as handle:
        handle.write("6,written before a commit that never happened,p1@example.com,\n")

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        import_job_run(job_id=job.pk)  # django-q2 hands the task out again

    job.refresh_from_db()
    assert (job.status, job.created, job.failed, job.rows_processed) == ("done", 5, 2, 7)
    assert Profile.objects.count() == 5
    assert ConsentEvent.objects.count() == 5
    keys = ConsentEvent.objects.values_list("idempotency_key", flat=True)
    assert len(set(keys)) == 5
    assert [(r["line"], r["reason"]) for r in error_rows(job)] == [
        ("4", "invalid email address: 'broken'"),
        ("7", "duplicate of line 2 (same email)"),
    ]


def test_a_second_worker_leaves_a_job_alone_while_the_first_is_alive(small_batches):
    job = make_job(SEVEN_ROWS)
    import_job_run(job_id=job.pk, max_batches=1)

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.committed_offset, Profile.objects.count()) == ("running", 2, 2)


def test_a_task_hands_over_to_the_next_slice_when_its_time_is_up(
    small_batches, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_TASK_SECONDS = 0
    job = make_job(SEVEN_ROWS)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        import_job_task(job.pk)

    job.refresh_from_db()
    assert (job.status, job.committed_offset, len(queued)) == (ImportStatus.QUEUED, 2, 1)


def test_progress_counts_rows_as_batches_commit(small_batches):
    job = make_job(SEVEN_ROWS)
    assert job.percent == 0

    import_job_run(job_id=job.pk, max_batches=3)

    job.refresh_from_db()
    assert (job.rows_processed, job.rows_total, job.percent) == (6, 7, 86)


def test_a_finished_job_is_not_run_again():
    job = make_job(SEVEN_ROWS)
    import_job_run(job_id=job.pk)

    again = import_job_run(job_id=job.pk)

    assert again.status == ImportStatus.DONE
    assert ImportJob.objects.get().created == 5


def test_the_duplicate_index_answers_every_hash_it_holds_and_no_other():
    from profiles.imports.seen import seen_index

    rng = random.Random(7)
    held = {rng.getrandbits(64) - 2**63: line for line in range(2, 20_002)}
    index = seen_index()
    index.add(held)
    others = [rng.getrandbits(64) - 2**63 for _ in range(20_000)]

    assert index.earlier(list(held)) == held
    assert index.earlier([h for h in others if h not in held]) == {}
