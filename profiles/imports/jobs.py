"""Running an ImportJob: in batches, each committed with the job's counters and offset.

A worker that dies loses at most the batch in flight: the job keeps `committed_offset`, the
task comes back (django-q2 re-delivers it after `retry`) or the operator resumes it, and
the run starts after the last committed row. Consent rows carry idempotency keys
(import:<job>:<line>:<channel>) as a second guard.
"""

import gc
import logging
import time
from contextlib import contextmanager
from datetime import timedelta
from itertools import islice, takewhile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from profiles.imports import pipeline
from profiles.imports.consent import ConsentPolicy
from profiles.imports.errors import ErrorFile
from profiles.imports.fastpath import BatchResult, Importer
from profiles.imports.formats import MappingError, Plan, plan_for
from profiles.imports.reading import FileInfo, FileUnreadable, inspect_file, iter_records
from profiles.models import ImportJob, ImportStatus

logger = logging.getLogger(__name__)
COUNTERS = ("created", "updated", "unchanged", "failed", "consent_applied", "consent_refused")


class ImportRefused(ValueError):
    """The file cannot be imported at all (unreadable, no identifier, bad declaration)."""


def import_job_plan(
    *,
    path: str | Path,
    mapping: dict[str, str] | None = None,
    email_consent: bool = False,
    sms_consent: bool = False,
    source_name: str = "",
) -> tuple[FileInfo, Plan]:
    """Read the header and decide the columns; ImportRefused says why a file cannot go."""
    try:
        info = inspect_file(path)
        plan = plan_for(info.headers, mapping)
    except (FileUnreadable, MappingError, OSError, UnicodeError) as exc:
        raise ImportRefused(str(exc)) from exc
    check_declarations(
        plan, email_consent=email_consent, sms_consent=sms_consent, source_name=source_name
    )
    return info, plan


def check_declarations(
    plan: Plan, *, email_consent: bool, sms_consent: bool, source_name: str
) -> None:
    for channel, declared in (("email", email_consent), ("sms", sms_consent)):
        if declared and f"{channel}_consent" in plan.targets:
            raise ImportRefused(
                f"the file has its own {channel} consent column; a list-wide declaration is "
                "only for files without one"
            )
    if (email_consent or sms_consent) and not source_name.strip():
        raise ImportRefused("a consent declaration needs a source name (where the list came from)")


def import_job_start(*, job: ImportJob) -> None:
    """Queue the job for a worker once the current transaction commits."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "profiles.imports.jobs.import_job_task", job.pk, task_name=f"import-job-{job.pk}"
        )
    )


def import_job_task(job_id: int) -> None:
    """django-q2 entry point: a slice of the job; queues the next slice if one is left."""
    job = import_job_run(job_id=job_id, time_budget=settings.IMPORT_TASK_SECONDS)
    if job is not None and job.status == ImportStatus.QUEUED:
        import_job_start(job=job)


def import_job_run(
    *, job_id: int, time_budget: float | None = None, max_batches: int | None = None
) -> ImportJob | None:
    """Run (or resume) a job until done, out of time (back to queued) or out of batches.

    `max_batches` stops after that many committed batches and leaves the job running, as a
    worker killed there would; a later run resumes it once its heartbeat is stale.
    """
    job = _claim(job_id)
    if job is None:
        return ImportJob.objects.filter(pk=job_id).first()
    try:
        with _few_collections():
            return _run(job, time_budget, max_batches)
    except ImportRefused as exc:
        return _finish(job, ImportStatus.FAILED, str(exc))
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        _finish(job, ImportStatus.FAILED, f"stopped at row {job.committed_offset}: {exc!r}")
        raise
    except BaseException:
        # The worker is stopping (django-q2's task timeout is a SystemExit; a shutdown): the
        # committed batches stay, and the job is left silent so the next sweep resumes it.
        ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(heartbeat_at=None)
        raise


def import_jobs_resume_stale() -> int:
    """Queue again every running job whose worker went silent (killed, restarted, stopped
    by the task timeout): with the Redis broker a dead worker's task is gone for good. The
    claim lets exactly one task take each over, from its last committed batch."""
    jobs = list(ImportJob.objects.filter(_silent()))
    for job in jobs:
        import_job_start(job=job)
    return len(jobs)


def is_stale(job: ImportJob) -> bool:
    """A running job nobody is working on (see import_jobs_resume_stale)."""
    return ImportJob.objects.filter(_silent(), pk=job.pk).exists()


def _silent() -> Q:
    """Running, yet no heartbeat for IMPORT_JOB_STALE_SECONDS: its worker is gone."""
    stale = timezone.now() - timedelta(seconds=settings.IMPORT_JOB_STALE_SECONDS)
    return Q(status=ImportStatus.RUNNING) & (
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    )


@contextmanager
def _few_collections():
    """Rare garbage collections while a job runs: ~20% less CPU a row (1M-row files).

    A batch allocates ~100k short-lived objects, so the collector ran its full pass often,
    each walking the worker's whole heap (Django's apps, models and URL state). The heap as
    it is now is frozen out of the collector's sight and young collections are spaced out;
    the rows themselves are freed by reference counting, not by the collector.
    """
    threshold = gc.get_threshold()
    frozen_at_start = gc.get_freeze_count() > 0  # a worker froze its start-up heap
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
        if frozen_at_start:  # give the worker its frozen heap back, without the job's garbage
            gc.collect()
            gc.freeze()


def _claim(job_id: int) -> ImportJob | None:
    """Conditional UPDATE: one worker runs a job; a silent one's job is taken over."""
    claimable = Q(status=ImportStatus.QUEUED) | _silent()
    claimed = ImportJob.objects.filter(claimable, pk=job_id).update(
        status=ImportStatus.RUNNING, heartbeat_at=timezone.now()
    )
    return ImportJob.objects.get(pk=job_id) if claimed else None


def _run(job: ImportJob, time_budget, max_batches) -> ImportJob:
    path = job.file.path
    info, plan = import_job_plan(
        path=path,
        mapping=job.mapping,
        email_consent=job.email_consent,
        sms_consent=job.sms_consent,
        source_name=job.source_name,
    )
    if job.started_at is None:
        _start(job, info, plan)
    errors = ErrorFile(job, info.headers)
    importer = Importer(
        plan=plan,
        headers=info.headers,
        policy=_policy(job, plan),
        overwrite=job.overwrite,
        dry_run=job.dry_run,
        announce_created=job.enrol_in_journeys,
    )
    # The slice's clock starts before re-reading the committed rows: on a big file that read
    # is most of a resumed slice, and the slice must end well inside the task timeout.
    began, done = time.monotonic(), 0
    if job.committed_offset:
        seen = iter_records(path, info)
        importer.remember(
            _beating(job, takewhile(lambda record: record[0] <= job.committed_offset + 1, seen))
        )
    records = iter_records(path, info, skip=job.committed_offset)
    batches = _batches(records, settings.IMPORT_BATCH_SIZE)

    def stop() -> bool:
        nonlocal done
        done += 1
        if max_batches is not None and done >= max_batches:
            return True
        if time_budget is not None and time.monotonic() - began > time_budget:
            ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
            job.status = ImportStatus.QUEUED
            return True
        return False

    try:
        if settings.IMPORT_WRITERS > 1 and importer.can_pipeline():
            finished = _run_pipelined(job, importer, batches, errors, stop)
        else:
            finished = _run_serial(job, importer, batches, errors, stop)
    finally:
        importer.close()
    return _finish(job, ImportStatus.DONE, "") if finished else job


def _run_serial(job, importer: Importer, batches, errors: ErrorFile, stop) -> bool:
    for batch in importer.read_ahead(batches):
        _commit_batch(job, importer, batch, errors)
        if stop():
            return False
    return True


def _run_pipelined(job, importer: Importer, batches, errors: ErrorFile, stop) -> bool:
    """The batches written by two writers, committed in order (profiles.imports.pipeline)."""

    def commit_step(batch, result: BatchResult):
        errors.append(result.problems)  # before the commit, as _commit_batch does

        def commit() -> None:  # on the writer's connection, in the batch's transaction
            _record(job, batch, result)

        return commit

    def landed(batch, result: BatchResult) -> bool:
        _progress(job, batch, result)
        return stop()

    def one_by_one(batch, prepared) -> bool:
        _commit_batch(job, importer, batch, errors, prepared.cleaned)
        return stop()

    return pipeline.run(
        importer, batches, commit_step=commit_step, landed=landed, one_by_one=one_by_one,
        writers=settings.IMPORT_WRITERS,
    )  # fmt: skip


def _batches(records, size: int):
    while batch := list(islice(records, size)):
        yield batch


def _beating(job: ImportJob, records, every: int = 100_000):
    """The records, with the job's heartbeat renewed as they go: a long re-read of committed
    rows must not look like a dead worker to the sweep."""
    for count, record in enumerate(records, 1):
        if count % every == 0:
            ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        yield record


def _start(job: ImportJob, info: FileInfo, plan: Plan) -> None:
    job.started_at = timezone.now()
    job.rows_total = info.rows_estimate
    job.format = plan.format
    job.plan = {"mapping": plan.mapping, "constants": plan.constants}
    job.error_file.name = ErrorFile.name_for(job)
    job.save(update_fields=["started_at", "rows_total", "format", "plan", "error_file"])


def _policy(job: ImportJob, plan: Plan) -> ConsentPolicy:
    return ConsentPolicy(
        job_id=job.pk,
        file_name=job.original_name or Path(job.file.name).name,
        source_name=job.source_name,
        email_declared=job.email_consent,
        sms_declared=job.sms_consent,
        declared_by=str(job.created_by or ""),
        started_at=job.started_at,
        columns={target: plan.columns_for(target) for target in ("email_consent", "sms_consent")},
    )


def _commit_batch(
    job: ImportJob, importer: Importer, batch, errors: ErrorFile, cleaned=None
) -> None:
    with transaction.atomic():
        result: BatchResult = importer.run_batch(batch, cleaned)
        # Written before the commit: a resumed run drops lines past the committed offset.
        errors.append(result.problems)
        _record(job, batch, result)
    _progress(job, batch, result)


def _record(job: ImportJob, batch, result: BatchResult) -> None:
    """In the batch's transaction: the job's counters and committed offset."""
    offset = batch[-1][0] - 1  # data records up to and including the batch's last line
    changes = {name: F(name) + getattr(result, name) for name in COUNTERS}
    ImportJob.objects.filter(pk=job.pk).update(
        **changes, committed_offset=offset, rows_processed=offset, heartbeat_at=timezone.now()
    )


def _progress(job: ImportJob, batch, result: BatchResult) -> None:
    """The batch committed: the job object in memory follows."""
    job.committed_offset = job.rows_processed = batch[-1][0] - 1
    for name in COUNTERS:
        setattr(job, name, getattr(job, name) + getattr(result, name))


def _finish(job: ImportJob, status: str, message: str) -> ImportJob:
    job.status, job.error_message, job.finished_at = status, message, timezone.now()
    fields = ["status", "error_message", "finished_at"]
    if status == ImportStatus.DONE:
        job.rows_total = job.rows_processed
        fields.append("rows_total")
    job.save(update_fields=fields)
    return job
