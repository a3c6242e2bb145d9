"""The error file: each failed row as it was in the file, with its line and the reason."""

import csv
from pathlib import Path

from django.core.files.storage import default_storage

from profiles.models import ImportJob

# OWASP CSV injection: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class ErrorFile:
    def __init__(self, job: ImportJob, headers: list[str]):
        self.path = Path(default_storage.path(job.error_file.name or self.name_for(job)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width = len(headers)
        self._keep_committed(job.committed_offset, headers)

    @staticmethod
    def name_for(job: ImportJob) -> str:
        return f"imports/errors/import-{job.pk}-errors.csv"

    def _keep_committed(self, offset: int, headers: list[str]) -> None:
        """Start the file, or on resume keep only the rows of committed batches."""
        kept = []
        if offset and self.path.exists():
            with open(self.path, encoding="utf-8-sig", newline="") as handle:
                kept = [r for r in list(csv.reader(handle))[1:] if int(r[0]) <= offset + 1]
        with open(self.path, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "reason", *(escape_formula(h) for h in headers)])
            writer.writerows(kept)

    def append(self, problems: list[tuple[int, str, list[str]]]) -> None:
        if not problems:
            return
        with open(self.path, "a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            for line, reason, cells in sorted(problems, key=lambda p: p[0]):
                writer.writerow([line, reason, *(escape_formula(c) for c in cells)])
