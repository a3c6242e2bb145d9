"""Background jobs: batches commit with their counters; a restarted worker resumes exactly."""

import random
import re
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
    held |= {-(2**63): 2**31 - 1, 2**63 - 1: 20_002, 0: 20_003, -1: 20_004}  # the extremes
    index = seen_index()
    index.add(held)
    others = [rng.getrandbits(64) - 2**63 for _ in range(20_000)]

    assert index.earlier(list(held)) == held
    assert index.earlier([h for h in others if h not in held]) == {}


def test_the_duplicate_index_knows_its_hashes_are_unique_however_big_it_grows():
    """PostgreSQL: a temporary table is never analyzed by autovacuum; unanalyzed, a batch's
    `h = ANY(...)` was planned to match a fraction of the table, so as a scan of all of it
    (the file's rows squared over an import)."""
    from django.db import connection

    from profiles.imports.seen import SeenTable, seen_index

    if connection.vendor != "postgresql":
        pytest.skip("the index is a temporary table on PostgreSQL only")
    rng = random.Random(11)
    index = seen_index()
    index.add({rng.getrandbits(64) - 2**63: line for line in range(2, 5_002)})
    with connection.cursor() as cursor:  # the table grows tenfold after the first batch
        cursor.execute(
            f"INSERT INTO {SeenTable.TABLE} SELECT (random() * 9e18)::bigint, 1 "
            "FROM generate_series(1, 50000)"
        )
        wanted = "{" + ",".join(str(rng.getrandbits(62)) for _ in range(300)) + "}"
        cursor.execute(
            f"EXPLAIN SELECT h, line FROM {SeenTable.TABLE} WHERE h = ANY(%s::bigint[])",
            [wanted],
        )
        top = cursor.fetchall()[0][0]
    index.close()

    # Planned as ~300 matches (h is unique), not a fraction of the table: the scan of the
    # whole table then costs more than the index as soon as the table is big.
    assert int(re.search(r"rows=(\d+)", top).group(1)) <= 3_000


def test_a_slice_stopped_by_the_task_timeout_is_resumed_by_the_sweep(small_batches, monkeypatch):
    """django-q2 stops a slow task by raising TimeoutException (a SystemExit) inside it and
    does not hand it out again: the job must not stay "running" for nobody."""
    from django_q.exceptions import TimeoutException

    from profiles.imports import jobs

    commit, calls = jobs._commit_batch, []

    def stopped_on_the_second_batch(job, importer, batch, errors):
        calls.append(1)
        if len(calls) == 2:
            raise TimeoutException("Task exceeded maximum timeout value (300 seconds)")
        commit(job, importer, batch, errors)

    monkeypatch.setattr(jobs, "_commit_batch", stopped_on_the_second_batch)
    job = make_job(SEVEN_ROWS, email_consent=True, source_name="Old CRM export")
    with pytest.raises(SystemExit):
        import_job_task(job.pk)
    monkeypatch.setattr(jobs, "_commit_batch", commit)

    assert jobs.import_jobs_resume_stale() == 1  # queued again at once, no waiting
    import_job_task(job.pk)  # what the worker does with that task

    job.refresh_from_db()
    assert (job.status, job.created, job.failed, job.rows_processed) == ("done", 5, 2, 7)
    assert ConsentEvent.objects.count() == 5


def test_the_sweep_resumes_a_job_whose_worker_died_and_leaves_live_ones(small_batches):
    alive, dead = make_job(SEVEN_ROWS), make_job(SEVEN_ROWS.replace("p", "q"))
    import_job_run(job_id=dead.pk, max_batches=1)  # its worker is killed here
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        import_job_run(job_id=alive.pk, max_batches=1)  # still beating
        from profiles.imports.jobs import import_jobs_resume_stale

        assert import_jobs_resume_stale() == 1
        import_job_task(dead.pk)

    dead.refresh_from_db()
    assert (dead.status, dead.rows_processed) == ("done", 7)


def test_the_admin_can_resume_a_stalled_job(small_batches, admin_client):
    from django.urls import reverse

    job = make_job(SEVEN_ROWS)
    import_job_run(job_id=job.pk, max_batches=1)  # the worker is killed here
    url = reverse("admin:profiles_importjob_run", args=[job.pk])

    admin_client.post(url)  # its heartbeat is fresh: it may still be working
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING

    with time_machine.travel(timezone.now() + timedelta(minutes=30)):
        admin_client.post(url)
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED


def test_a_finished_job_leaves_no_duplicate_index_on_the_connection(small_batches):
    from django.db import connection

    from profiles.imports.seen import SeenTable

    import_job_run(job_id=make_job(SEVEN_ROWS).pk)

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [f"pg_temp.{SeenTable.TABLE}"])
            assert cursor.fetchone() == (None,)


def test_duplicates_of_the_previous_batch_and_of_older_ones_are_both_caught(small_batches):
    job = make_job(
        "email,phone\n"
        "a@example.com,+14155550301\nb@example.com,+14155550302\n"  # batch 1
        "B@example.com,\nc@example.com,+14155550301\n"  # batch 2: lines 4 and 5
        "d@example.com,+14155550304\n,+14155550302\n"  # batch 3: line 7 is line 3's phone
    )

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert [(r["line"], r["reason"]) for r in error_rows(job)] == [
        ("4", "duplicate of line 3 (same email)"),
        ("5", "duplicate of line 2 (same phone)"),
        ("7", "duplicate of line 3 (same phone)"),
    ]
    assert (job.created, job.failed) == (3, 3)


MATCHED_BY_EMAIL = (
    "email,phone\n"
    "known@example.com,\n"  # line 2: lands on the known profile, which has a phone
    "p3@example.com,+14155550203\n"
    "p4@example.com,+14155550204\n"
    ",+14155550300\n"  # line 5: the known profile again, by its phone
)


@pytest.mark.parametrize("killed_after", [None, 1])
def test_a_row_naming_an_imported_profile_by_another_identifier_is_a_duplicate_after_a_resume(
    small_batches, killed_after
):
    Profile.objects.create(email="known@example.com", phone="+14155550300")
    job = make_job(MATCHED_BY_EMAIL)
    if killed_after:
        import_job_run(job_id=job.pk, max_batches=killed_after)
        with time_machine.travel(timezone.now() + timedelta(minutes=5)):
            import_job_run(job_id=job.pk)
    else:
        import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.created, job.updated + job.unchanged, job.failed) == ("done", 2, 1, 1)
    assert [(r["line"], r["reason"]) for r in error_rows(job)] == [
        ("5", "duplicate of line 2 (same phone)")
    ]
