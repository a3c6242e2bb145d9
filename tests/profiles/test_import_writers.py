"""Two writers on PostgreSQL (profiles.imports.pipeline): batches written on two connections
at once, committed in file order; the outcome is the one-connection path's, row for row."""

import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from compliance.models import ConsentEvent, Subscription, Suppression
from profiles.imports import pipeline
from profiles.imports.jobs import import_job_run
from profiles.models import ImportJob, Profile
from tests.factories import ProfileFactory
from tests.postgres import require_postgres
from tests.profiles.test_import_helpers import make_job, media, problems  # noqa: F401

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("media"),
]

# Batches of 3 rows (lines 2-4, 5-7, ...). Line 3 names the existing Ann by her email; line 6,
# in the next batch (written at the same time), names her by her phone: a duplicate of line
# 3 that only line 3's SQL can tell. Line 9 names the existing Bob (unchanged unless the
# first name is new), line 12 repeats line 8's email, line 10 has a bad email, line 11 a
# bad phone, line 14 opts out by the file.
FILE = "email,phone,first_name,email_consent,sms_consent\n" + "".join(
    [
        "new1@example.com,+14155550101,One,yes,yes\n",  # 2
        "ann@example.com,,Annie,yes,\n",  # 3
        "new3@example.com,+14155550103,Three,,\n",  # 4
        "new4@example.com,,Four,yes,\n",  # 5
        "other@example.com,+14155550900,Ann again,yes,yes\n",  # 6
        "new6@example.com,+14155550106,Six,yes,yes\n",  # 7
        "new7@example.com,+14155550107,Seven,,yes\n",  # 8
        "bob@example.com,,Bob,yes,\n",  # 9
        "broken,+14155550109,Nine,yes,\n",  # 10
        "new10@example.com,12,Ten,yes,\n",  # 11
        "NEW7@example.com,,Seven again,yes,\n",  # 12
        "new12@example.com,+14155550112,Twelve,yes,yes\n",  # 13
        "new13@example.com,+14155550113,Thirteen,no,\n",  # 14
        "new14@example.com,+14155550114,Fourteen,yes,yes\n",  # 15
    ]
)


@pytest.fixture(autouse=True)
def _postgres_only(settings, monkeypatch):
    require_postgres()
    settings.IMPORT_BATCH_SIZE = 3
    monkeypatch.setattr(pipeline, "LOCK_TIMEOUT", "300ms")  # keep a lock-wait case quick


def _people() -> None:
    ProfileFactory(email="ann@example.com", phone="+14155550900", first_name="", external_id="ann")
    ProfileFactory(email="bob@example.com", phone="", first_name="Bob", external_id="bob")


def _outcome(job: ImportJob) -> dict:
    job.refresh_from_db()
    return {
        "job": (
            job.status,
            job.created,
            job.updated,
            job.unchanged,
            job.failed,
            job.consent_applied,
            job.consent_refused,
            job.committed_offset,
        ),  # fmt: skip
        "problems": problems(job),
        "profiles": sorted(
            (e, str(p), f, x)
            for e, p, f, x in Profile.objects.values_list(
                "email", "phone", "first_name", "external_id"
            )
        ),
        "consent": sorted(
            ConsentEvent.objects.values_list(
                "profile__email", "channel", "action", "applied", "idempotency_key"
            )
        ),
        "subscriptions": sorted(
            Subscription.objects.values_list("profile__email", "channel", "status")
        ),
    }


def _clear() -> None:
    Subscription.objects.all().delete()
    ConsentEvent.objects.all().delete()
    Suppression.objects.all().delete()
    Profile.objects.all().delete()


def _import(settings, writers: int, data: str = FILE, **options) -> dict:
    settings.IMPORT_WRITERS = writers
    _clear()
    _people()
    job = make_job(data, **options)
    import_job_run(job_id=job.pk)
    outcome = _outcome(job)
    outcome["consent"] = [(*c[:4], c[4].split(":", 2)[2]) for c in outcome["consent"]]
    return outcome


@pytest.mark.parametrize("overwrite", [False, True])
def test_two_writers_land_what_one_connection_lands(settings, caplog, overwrite):
    one = _import(settings, 1, overwrite=overwrite)
    with caplog.at_level(logging.DEBUG, logger="profiles.imports.pipeline"):
        two = _import(settings, 2, overwrite=overwrite)

    assert two == one
    assert ("6", "duplicate of line 3 (same phone)") in two["problems"]
    assert ("12", "duplicate of line 8 (same email)") in two["problems"]
    # Lines 5-7 were written beside lines 2-4, then done again once line 3 had landed (with
    # lines 2-4 too if those waited on Ann's lock held by lines 5-7 until the lock timeout).
    assert re.search(r"5 batches on 2 writers, [12] done again on one connection", caplog.text)


def test_a_job_stopped_while_two_batches_are_in_the_air_resumes_after_the_committed_one(
    settings,
):
    settings.IMPORT_WRITERS = 1
    _people()
    whole = make_job(FILE, email_consent=False)
    import_job_run(job_id=whole.pk)
    expected = _outcome(whole)
    expected["consent"] = [(*c[:4], c[4].split(":", 2)[2]) for c in expected["consent"]]

    settings.IMPORT_WRITERS = 2
    _clear()
    _people()
    job = make_job(FILE)
    import_job_run(job_id=job.pk, max_batches=2)  # the worker dies with batch 3 written
    job.refresh_from_db()
    assert (job.status, job.committed_offset) == ("running", 6)
    # Batch 3 (lines 8-10) was written, not committed: nothing of it is stored.
    assert not Profile.objects.filter(email="new7@example.com").exists()
    assert not ConsentEvent.objects.filter(idempotency_key__endswith=":8:sms").exists()

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        import_job_run(job_id=job.pk)
    resumed = _outcome(job)
    resumed["consent"] = [(*c[:4], c[4].split(":", 2)[2]) for c in resumed["consent"]]
    assert resumed == expected
    assert resumed["job"][0] == "done"


def test_a_batch_that_waits_on_the_next_ones_lock_is_done_again(settings):
    """Line 3 changes Ann and line 6 (next batch) names her too: whichever writer locks her
    first, the import ends as on one connection (a lock wait cut short is done again)."""
    one = _import(settings, 1, overwrite=True)
    for _ in range(3):
        assert _import(settings, 2, overwrite=True) == one


def test_a_later_batch_that_finishes_first_commits_after_the_one_before_it(settings, monkeypatch):
    """Another session holds Ann's row: batch 1 (line 3 changes her) waits on it while batch 2
    (new people only) finishes its SQL. Batch 2 stays uncommitted until batch 1 commits."""
    monkeypatch.setattr(pipeline, "LOCK_TIMEOUT", "20s")  # batch 1 waits, it is not redone
    lines = [
        "new1@example.com,+14155550101,One,yes,yes",
        "ann@example.com,,Annie,yes,",
        "new3@example.com,,Three,,",
        "new4@example.com,+14155550104,Four,yes,",
        "new5@example.com,,Five,,yes",
        "new6@example.com,+14155550106,Six,yes,yes",
    ]
    data = "email,phone,first_name,email_consent,sms_consent\n" + "\n".join(lines) + "\n"

    def run(writers: int) -> dict:
        settings.IMPORT_WRITERS = writers
        _clear()
        _people()
        job = make_job(data)
        if writers == 1:
            import_job_run(job_id=job.pk)
        else:
            seen = _while_ann_is_held(job.pk, lambda: import_job_run(job_id=job.pk))
            # Batch 2's SQL had answered (its writer idle in its transaction) while batch 1
            # waited on Ann's lock, and nothing was committed yet.
            assert seen == {"waiting": 1, "idle in transaction": 1, "committed_offset": 0}
        outcome = _outcome(job)
        outcome["consent"] = [(*c[:4], c[4].split(":", 2)[2]) for c in outcome["consent"]]
        return outcome

    one = run(1)
    assert one["job"][0] == "done" and one["job"][7] == 6
    assert run(2) == one


def _while_ann_is_held(job_pk: int, work) -> dict:
    """Run `work` in this thread while a second session holds Ann's row; released once one
    session waits on it and another is idle in its transaction (or after 15 s)."""
    import threading
    import time

    import psycopg

    from tests.postgres import database_url

    locked, seen = threading.Event(), {}

    def hold() -> None:
        with (
            psycopg.connect(database_url()) as holder,
            psycopg.connect(database_url(), autocommit=True) as watcher,
        ):
            holder.execute(
                "SELECT id FROM profiles_profile WHERE email = 'ann@example.com' FOR UPDATE"
            )
            locked.set()
            mine = (holder.info.backend_pid, watcher.info.backend_pid)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                rows = watcher.execute(
                    "SELECT wait_event_type, state FROM pg_stat_activity "
                    "WHERE datname = current_database() AND backend_type = 'client backend' "
                    "AND pid <> ALL(%s)",
                    [list(mine)],
                ).fetchall()
                waiting = sum(1 for kind, _ in rows if kind == "Lock")
                idle = sum(1 for _, state in rows if state == "idle in transaction")
                if waiting and idle:
                    (offset,) = watcher.execute(
                        "SELECT committed_offset FROM profiles_importjob WHERE id = %s",
                        [job_pk],
                    ).fetchone()
                    seen.update({"waiting": waiting, "idle in transaction": idle,
                                 "committed_offset": offset})  # fmt: skip
                    break
                time.sleep(0.02)
            holder.rollback()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10)
    try:
        work()
    finally:
        thread.join()
    return seen


def test_three_writers_catch_a_duplicate_two_batches_later(settings):
    """Line 3 names Ann by her email; line 9 (batch 3, in the air beside batches 1 and 2)
    names her by her phone: a duplicate, though batch 2 names no one batch 1 matched."""
    rows = FILE.splitlines()
    header, body = rows[0], rows[1:]
    body[4], body[7] = body[7], body[4]  # "Ann again" to line 9, Bob to line 6
    data = "\n".join([header, *body]) + "\n"
    one = _import(settings, 1, data)
    assert ("9", "duplicate of line 3 (same phone)") in one["problems"]
    assert _import(settings, 3, data) == one


def test_two_writers_catch_duplicates_of_a_batch_landed_but_not_yet_indexed(settings):
    """Batch 3 is deduped once batch 1 has landed, before batch 1's identifiers reach the
    duplicate index (they are sent in the background once batch 3 is handed out): line 9
    names Ann by the phone line 3's SQL learned, line 10 repeats line 2's email."""
    rows = FILE.splitlines()
    header, body = rows[0], rows[1:]
    body[4], body[7] = body[7], body[4]  # "Ann again" to line 9, Bob to line 6
    body[8] = "NEW1@example.com,,Nine,yes,"  # line 10
    data = "\n".join([header, *body]) + "\n"
    one = _import(settings, 1, data)
    assert ("9", "duplicate of line 3 (same phone)") in one["problems"]
    assert ("10", "duplicate of line 2 (same email)") in one["problems"]
    assert _import(settings, 2, data) == one
