"""Rows/s of the CSV import fast path, on SQLite and PostgreSQL, beside stock django-import-export.

One command, from the project folder:

    .venv/bin/python bench/import_rows.py [--database sqlite|postgres|both] [--rows N]
                                          [--stock-rows M]

It writes a generated Shopify customers export of N rows (default 100,000; the mix of
profiles/imports/demo.py: ~80% with a phone, ~2% duplicates, ~1% bad emails and phones,
email and SMS consent columns), then, for each database, in a fresh database (a SQLite
file in a temp folder, or PostgreSQL `tandem_bench` on postgres@127.0.0.1, dropped and
recreated) and a fresh process:

1. new:      the file through ImportJob (import_job_run: the command's and the admin's path)
             into an empty database: every profile new, phones validated, consent recorded;
2. re-import: the same customers again with ~10% of first names changed (~90% unchanged),
             with "overwrite" so the changed 10% are written;
3. stock:    the first M rows (default 2,000) through stock django-import-export
             (modelresource_factory(Profile), default options) into an empty table.

and prints rows/s for each, the process's CPU seconds and peak RSS after 1 and 2, and the
targets: 20,000 rows/s new and 40,000 rows/s re-import on PostgreSQL, peak RSS <= 256 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
TARGET_NEW, TARGET_REIMPORT, TARGET_RSS_MB = 20_000, 40_000, 256


def child(args: argparse.Namespace) -> None:
    """Runs inside the fresh process: migrate, import, re-import, stock; prints JSON."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    out = {
        "new": _fast(args.file, "new.csv"),
        "reimport": _fast(args.variant, "variant.csv", overwrite=True),
    }
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["stock"] = _stock(args.file, args.stock_rows) if args.stock_rows else None
    print("RESULT " + json.dumps(out))


def _fast(path: str, name: str, *, overwrite: bool = False) -> dict:
    from django.core.files import File

    from profiles.imports.jobs import import_job_run
    from profiles.models import ImportJob

    job = ImportJob(original_name=name, overwrite=overwrite)
    with open(path, "rb") as handle:
        job.file.save(name, File(handle), save=False)
    job.save()
    wall, cpu = time.perf_counter(), time.process_time()
    job = import_job_run(job_id=job.pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    counts = {n: getattr(job, n) for n in ("created", "updated", "unchanged", "failed")}
    return {"rows": job.rows_processed, "seconds": wall, "cpu": cpu, **counts,
            "consent": job.consent_applied, "status": job.status}  # fmt: skip


def _stock(path: str, rows: int) -> dict:
    import csv

    import tablib
    from import_export.resources import modelresource_factory

    from compliance.models import ConsentEvent, Subscription
    from profiles.models import Profile

    Subscription.objects.all().delete()
    ConsentEvent.objects.all()._raw_delete(ConsentEvent.objects.db)
    Profile.objects.all().delete()
    names = {"Email": "email", "Phone": "phone", "First Name": "first_name",
             "Last Name": "last_name"}  # fmt: skip
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        data = [[row[c] for c in names] for _, row in zip(range(rows), reader, strict=False)]
    dataset = tablib.Dataset(*data, headers=list(names.values()))
    wall = time.perf_counter()
    result = modelresource_factory(Profile)().import_data(dataset)
    wall = time.perf_counter() - wall
    return {"rows": rows, "seconds": wall, "errors": len(result.row_errors())}


def run(kind: str, args: argparse.Namespace, files: tuple[Path, Path], workdir: Path) -> str:
    import api_track

    database_url = api_track.prepare_database(kind, workdir)
    env = api_track.app_env(database_url)
    env["MEDIA_ROOT"] = str(workdir / f"media-{kind}")
    command = [sys.executable, __file__, "--child", "--file", str(files[0]),
               "--variant", str(files[1]), "--stock-rows", str(args.stock_rows)]  # fmt: skip
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    finally:
        api_track.drop_database(kind)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{kind}: the import process failed:\n{done.stderr[-3000:]}")
    return report(kind, json.loads(lines[-1].removeprefix("RESULT ")))


def report(kind: str, result: dict) -> str:
    new, again, stock = result["new"], result["reimport"], result["stock"]
    lines = [
        f"{kind}: new {new['rows']:,} rows in {new['seconds']:.1f} s = "
        f"{new['rows'] / new['seconds']:,.0f} rows/s (CPU {new['cpu']:.1f} s; created "
        f"{new['created']:,}, failed {new['failed']:,}, consent {new['consent']:,})",
        f"{kind}: re-import {again['rows']:,} rows in {again['seconds']:.1f} s = "
        f"{again['rows'] / again['seconds']:,.0f} rows/s (CPU {again['cpu']:.1f} s; updated "
        f"{again['updated']:,}, unchanged {again['unchanged']:,})",
        f"{kind}: peak RSS {result['rss_mb']:,.0f} MB",
    ]
    if stock:
        lines.append(
            f"{kind}: stock django-import-export {stock['rows']:,} rows in "
            f"{stock['seconds']:.1f} s = {stock['rows'] / stock['seconds']:,.0f} rows/s "
            f"({stock['errors']} row errors)"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--stock-rows", type=int, default=2_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    from profiles.imports.demo import write_demo_file

    workdir = Path(tempfile.mkdtemp(prefix="tandem-bench-import-"))
    try:
        files = (workdir / "customers.csv", workdir / "customers-again.csv")
        write_demo_file(files[0], rows=args.rows)
        write_demo_file(files[1], rows=args.rows, variant=1)
        kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
        for kind in kinds:
            print(run(kind, args, files, workdir), flush=True)
        print(
            f"targets (PostgreSQL): new >= {TARGET_NEW:,} rows/s, re-import >= "
            f"{TARGET_REIMPORT:,} rows/s, peak RSS <= {TARGET_RSS_MB} MB; "
            "anchor: stock django-import-export ~600 rows/s"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    raise SystemExit(main())
