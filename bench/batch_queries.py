"""Where a `POST /api/v1/batch` of track calls spends its time, in-process (no server).

    .venv/bin/python bench/batch_queries.py [--database sqlite|postgres] [--profile]
                                            [--module MODULE]

Prepares a fresh database like bench/api_track.py (10,000 seeded profiles), then posts
100-event track batches through Django's test client on one connection and prints the
SQL statements per batch and per event (by kind), the single-process time per batch and,
with --profile, a cProfile of the project's functions and the top 15 by own time.
--module imports a module first (from PYTHONPATH), e.g. one that patches profiles.api, to
compare a change before making it.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_track  # noqa: E402


def statement_kind(sql: str) -> str:
    words = sql.split()
    head = words[0].upper()
    if head in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"):
        return head
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql)
    name = f"{head} {table.group(1) if table else '?'}"
    return name + (" FOR UPDATE" if "FOR UPDATE" in sql.upper() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--batches", type=int, default=20, help="timed batches")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print cProfile: the project's functions and the top 15",
    )
    parser.add_argument("--module", help="import this module first (e.g. a patch to compare)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tandem-bench-queries-"))
    try:
        database_url = api_track.prepare_database(args.database, workdir)
        env = api_track.app_env(database_url)
        env["ALLOWED_HOSTS"] = "127.0.0.1,testserver"
        api_track.manage(env, "migrate", "--no-input", "-v", "0")
        api_track.manage(env, "shell", "-c", api_track.SEED_CODE.format(n=10_000))
        os.environ.update(env)
        return measure(args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        api_track.drop_database(args.database)


def measure(args: argparse.Namespace) -> int:
    import django

    sys.path.insert(0, str(api_track.ROOT))
    django.setup()
    if args.module:
        importlib.import_module(args.module)
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from profiles.models import ApiToken

    _, raw = ApiToken.generate(name="bench")
    total = args.batches + 12
    bodies, _ = api_track.build_batches(total * 100, 100, 10_000, 0.10, uuid.uuid4().hex[:8])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def post(body: bytes) -> None:
        response = client.post("/api/v1/batch", body, content_type="application/json")
        if response.status_code != 200 or not response.json()["ok"]:
            raise SystemExit(f"batch failed: {response.status_code} {response.content[:300]!r}")

    post(bodies[0])  # warm-up
    with CaptureQueriesContext(connection) as captured:
        post(bodies[1])
    kinds = Counter(statement_kind(q["sql"]) for q in captured.captured_queries)
    count = len(captured.captured_queries)
    print(
        f"{args.database}: {count} SQL statements for one 100-event track batch "
        f"= {count / 100:.2f} per event" + (f" (with {args.module})" if args.module else "")
    )
    for kind, n in kinds.most_common():
        print(f"  {n:5d}  {kind}")

    started = time.perf_counter()
    for body in bodies[2 : 2 + args.batches]:
        post(body)
    elapsed = time.perf_counter() - started
    print(
        f"single process, one connection: {elapsed / args.batches * 1000:.0f} ms per batch "
        f"= {args.batches * 100 / elapsed:,.0f} events/s"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for body in bodies[2 + args.batches : 12 + args.batches]:
            post(body)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(r"profiles/|transaction\.py|utils\.py.*execute$")
        stats.sort_stats("tottime").print_stats(15)
    connections.close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
