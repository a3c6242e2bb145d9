"""Helpers for the import tests: write a CSV, run it as an ImportJob, read its error file."""

import csv
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from profiles.imports.jobs import import_job_run
from profiles.models import ImportJob


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def make_job(data: str | bytes, *, name: str = "list.csv", **options) -> ImportJob:
    raw = data.encode() if isinstance(data, str) else data
    job = ImportJob(original_name=name, **options)
    job.file.save(name, ContentFile(raw), save=False)
    job.save()
    return job


def run_import(data: str | bytes, **options) -> ImportJob:
    job = make_job(data, **options)
    return import_job_run(job_id=job.pk)


def error_rows(job: ImportJob) -> list[dict[str, str]]:
    with open(job.error_file.path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def problems(job: ImportJob) -> list[tuple[str, str]]:
    return [(row["line"], row["reason"]) for row in error_rows(job)]
