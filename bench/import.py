"""CSV import rows/s and peak RSS, on PostgreSQL and SQLite, beside stock django-import-export.

One command, from the project folder:

    .venv/bin/python bench/import.py [--database postgres|sqlite|both] [--rows N]
                                     [--stock-rows M] [--dbname NAME]

It writes a generated Shopify customers export of N rows (default 1,000,000; the mix of
profiles/imports/demo.py: ~80% with a phone typed the ways people type them, ~2%
duplicates, ~1% bad emails and ~1% bad phones, email and SMS consent columns) and a second
one with ~10% of first names changed. Then, per database, in a fresh database (a SQLite
file in a temp folder, or PostgreSQL `tandem_bench_import` (or `--dbname`) on
postgres@127.0.0.1, dropped and recreated, and dropped again at the end) and a fresh process:

1. new:       the file through ImportJob (import_job_run: the command's and the admin's
              path) into an empty database: every profile new, phones validated, consent
              on the ledger;
2. re-import: the second file with "overwrite": ~90% of rows unchanged (nothing written
              for them), ~10% updated;
3. stock:     the first M rows (default 5,000) through stock django-import-export
              (modelresource_factory(Profile), default options; the four columns renamed to
              the model's field names, which is all stock can read) into an empty table.
              Stock's rate does not fall with size, so M rows give its rate for the file.

It prints rows/s, the CPU seconds of the import process and of its PostgreSQL backend, the
peak RSS after the first 100,000 rows and at the end of the file, the load average, and
the targets: 20,000 rows/s new and 40,000 rows/s re-import on PostgreSQL, peak RSS at most
256 MB and flat from 100k to 1M rows. The machine's other work shows in the load average:
the rates are wall-clock rates on a shared 2-core machine.
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
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_track  # noqa: E402  (the bench folder is not a package)

TARGET_NEW, TARGET_REIMPORT, TARGET_RSS_MB = 20_000, 40_000, 256
PG_DB = "tandem_bench_import"
RSS_MARK = int(os.environ.get("BENCH_RSS_MARK", 100_000))


def child(args: argparse.Namespace) -> None:
    """Runs inside the fresh process: import, re-import, stock; prints JSON.

    The database was migrated by another process: a worker running an import never holds
    the migration state in memory (it alone was ~80 MB of this process's peak RSS).
    """
    import django

    django.setup()
    marks = _watch_rss()
    out = {"new": _fast(args.file, "new.csv")}
    out["new"]["rss_marks"], out["new"]["rss_at_end"] = dict(marks), _peak_mb()
    out["reimport"] = _fast(args.variant, "variant.csv", overwrite=True)
    out["rss_mb"] = _peak_mb()
    out["stock"] = _stock(args.file, args.stock_rows) if args.stock_rows else None
    print("RESULT " + json.dumps(out))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _watch_rss() -> dict[str, float]:
    """Peak RSS once the first RSS_MARK rows are committed (the job's own batch commits)."""
    from profiles.imports import jobs

    marks: dict[str, float] = {}
    progress = jobs._progress

    def measured(job, batch, result):
        progress(job, batch, result)
        if job.rows_processed >= RSS_MARK and "first" not in marks:
            marks["first"], marks["rows"] = _peak_mb(), job.rows_processed

    jobs._progress = measured
    return marks


def _fast(path: str, name: str, *, overwrite: bool = False) -> dict:
    from django.core.files import File
    from django.db import connection

    from profiles.imports.jobs import import_job_run
    from profiles.models import ImportJob

    job = ImportJob(original_name=name, overwrite=overwrite)
    with open(path, "rb") as handle:
        job.file.save(name, File(handle), save=False)
    job.save()
    backend = _backend_cpu(connection)
    wall, cpu, db_cpu = time.perf_counter(), time.process_time(), backend()
    job = import_job_run(job_id=job.pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    counts = {n: getattr(job, n) for n in ("created", "updated", "unchanged", "failed")}
    return {"rows": job.rows_processed, "seconds": wall, "cpu": cpu, "db_cpu": backend() - db_cpu,
            **counts, "consent": job.consent_applied, "status": job.status}  # fmt: skip


def _backend_cpu(connection):
    """CPU seconds of this database's PostgreSQL client backends (same machine), else None:
    the connection's own and the import's writers' (each its own connection), sampled every
    0.05 s by a thread while they live (a writer's last moments may be missed). Autovacuum
    is not counted."""
    if connection.vendor != "postgresql":
        return lambda: 0.0
    import psycopg

    settings = connection.settings_dict
    watcher = psycopg.connect(host=settings["HOST"], port=settings["PORT"] or 5432,
                              user=settings["USER"], dbname=settings["NAME"],
                              autocommit=True)  # fmt: skip
    own = watcher.info.backend_pid
    seen: dict[int, float] = {}
    lock = threading.Lock()

    def read(pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sample() -> None:
        query = (
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        pids = [row[0] for row in watcher.execute(query).fetchall()]
        with lock:
            for pid in pids:
                if pid != own and (cpu := read(pid)) is not None:
                    seen[pid] = cpu

    def loop() -> None:
        while True:
            sample()
            time.sleep(0.05)

    sample()
    threading.Thread(target=loop, daemon=True).start()

    def seconds() -> float:
        sample()
        with lock:
            return sum(seen.values())

    return seconds


def _stock(path: str, rows: int) -> dict:
    import csv

    import tablib
    from import_export.resources import modelresource_factory

    from compliance.models import ConsentEvent, Subscription
    from profiles.models import Profile

    Subscription.objects.all().delete()
    ConsentEvent.objects.all()._raw_delete(ConsentEvent.objects.db)
    Profile.objects.all()._raw_delete(Profile.objects.db)
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
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        in (
            "PATH",
            "HOME",
            "LANG",
            "TMPDIR",
            "BENCH_RSS_MARK",
            "IMPORT_WRITERS",
            "IMPORT_BATCH_SIZE",
        )
    }
    env.update(DATABASE_URL=api_track.prepare_database(kind, workdir, args.dbname), DEBUG="false",
               SECRET_KEY="bench-" + uuid.uuid4().hex, DJANGO_SETTINGS_MODULE="config.settings",
               MEDIA_ROOT=str(workdir / f"media-{kind}"), PYTHONDONTWRITEBYTECODE="1")  # fmt: skip
    command = [sys.executable, __file__, "--child", "--file", str(files[0]),
               "--variant", str(files[1]), "--stock-rows", str(args.stock_rows)]  # fmt: skip
    load = os.getloadavg()[0]
    try:
        migrate = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True)
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    finally:
        api_track.drop_database(kind, args.dbname)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{kind}: the import process failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    return report(kind, result, (load, os.getloadavg()[0]))


def report(kind: str, result: dict, load: tuple[float, float]) -> str:
    new, again, stock = result["new"], result["reimport"], result["stock"]
    marks = new["rss_marks"]
    lines = [_rate(kind, "new", new, f"created {new['created']:,}, failed {new['failed']:,}, "
                   f"consent {new['consent']:,}"),
             _rate(kind, "re-import", again, f"updated {again['updated']:,}, unchanged "
                   f"{again['unchanged']:,}, failed {again['failed']:,}")]  # fmt: skip
    first = f"{marks['first']:,.0f} MB after {marks['rows']:,} rows, " if marks else ""
    lines.append(
        f"{kind}: peak RSS {first}{new['rss_at_end']:,.0f} MB after {new['rows']:,} rows "
        f"(new import), {result['rss_mb']:,.0f} MB after the re-import"
    )
    if stock:
        rate = stock["rows"] / stock["seconds"]
        lines.append(
            f"{kind}: stock django-import-export {stock['rows']:,} rows in {stock['seconds']:.1f} s"
            f" = {rate:,.0f} rows/s ({stock['errors']} row errors; {new['rows']:,} rows would "
            f"take ~{new['rows'] / rate / 60:,.0f} min)"
        )
    lines.append(f"{kind}: load average {load[0]:.1f} at the start, {load[1]:.1f} at the end")
    return "\n".join(lines)


def _rate(kind: str, label: str, run: dict, counts: str) -> str:
    db = f" + PostgreSQL backend {run['db_cpu']:.1f} s" if run["db_cpu"] else ""
    return (
        f"{kind}: {label} {run['rows']:,} rows in {run['seconds']:.1f} s = "
        f"{run['rows'] / run['seconds']:,.0f} rows/s (CPU: import {run['cpu']:.1f} s{db}; "
        f"{counts})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stock-rows", type=int, default=5_000)
    parser.add_argument("--dbname", default=PG_DB, help=f"PostgreSQL database (default {PG_DB})")
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
        kinds = ["postgres", "sqlite"] if args.database == "both" else [args.database]
        for kind in kinds:
            print(run(kind, args, files, workdir), flush=True)
        print(
            f"targets (PostgreSQL): new >= {TARGET_NEW:,} rows/s, re-import >= "
            f"{TARGET_REIMPORT:,} rows/s, peak RSS <= {TARGET_RSS_MB} MB and flat from 100k "
            "to 1M rows; anchor: stock django-import-export ~600 rows/s on PostgreSQL"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    raise SystemExit(main())
