"""Latency of the preference centre page (`GET /preferences/<token>/`) under open-loop load.

One command, from the project folder:

    .venv/bin/python bench/preferences_p99.py [--database sqlite|postgres|both]
                                              [--rate 200] [--seconds 20] [--workers 2]

For each database it builds a fresh database, migrates it, seeds profiles with email and
SMS consent (and a topic opt-out on some), makes one signed preference link per profile,
starts gunicorn (`config.wsgi`) on a free 127.0.0.1 port and sends GETs at a fixed rate
(open loop: request i is due at start + i/rate, whether or not earlier ones came back).
Latency is measured from the due time, so a server that falls behind shows its queueing
delay instead of hiding it (no coordinated omission). It prints p50/p95/p99 against the
target (p99 <= 100 ms at 200 requests/s). The rate limit stays on, set high enough never
to trip, so its cache round-trip is part of the figure. Reuses bench/api_track.py's
server and database helpers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import api_track
from api_track import BenchError, CpuMeter, Server, app_env, machine_cpu, manage, step

ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 100.0
TARGET_RATE = 200
PG_BENCH_DB = "tandem_bench_preferences"
api_track.PG_BENCH_DB = PG_BENCH_DB  # CpuMeter counts this database's backends

SEED_CODE = """
import json, random
from compliance.services import consent_record
from compliance.tokens import make_token, PREFERENCES
from profiles.models import Profile
rng = random.Random(7)
Profile.objects.bulk_create(
    Profile(external_id=f"user-{{i:06d}}", email=f"user{{i:06d}}@example.com",
            phone=f"+1415555{{i:04d}}", first_name=f"First{{i}}", time_zone="America/Chicago")
    for i in range({n})
)
tokens = []
for profile in Profile.objects.all():
    consent_record(profile=profile, channel="email", action="opt_in", source="import")
    if rng.random() < 0.5:
        consent_record(profile=profile, channel="sms", action="opt_in", source="import")
    if rng.random() < 0.3:
        consent_record(profile=profile, channel="email", action="opt_out", source="api",
                       topic="offers")
    tokens.append(make_token(PREFERENCES, profile))
print(json.dumps(tokens))
"""


@dataclass
class Result:
    database: str
    planned: int
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    database_cpu: float = 0.0
    machine_busy: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"User-Agent": "tandem-bench"})
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        return 0, repr(exc).encode()
    finally:
        conn.close()


def fire(port: int, paths: list[str], rate: float, seconds: float, threads: int, result: Result):
    """Open loop: a pacer hands out due times; idle threads send as soon as one is due."""
    due: queue.SimpleQueue[float | None] = queue.SimpleQueue()
    lock = threading.Lock()
    rng = random.Random(11)

    def worker() -> None:
        while (when := due.get()) is not None:
            status, body = get(port, rng.choice(paths))
            elapsed = time.perf_counter() - when
            ok = status == 200 and b"Your preferences" in body
            with lock:
                result.latencies.append(elapsed)
                result.statuses["200" if ok else f"HTTP {status}"] += 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    start = time.perf_counter()
    for i in range(result.planned):
        when = start + i / rate
        pause = when - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put(when)
    for _ in pool:
        due.put(None)
    for thread in pool:
        thread.join()
    result.wall_seconds = time.perf_counter() - start


def run_one(kind: str, args: argparse.Namespace) -> Result:
    result = Result(database=kind, planned=int(args.rate * args.seconds))
    workdir = Path(tempfile.mkdtemp(prefix=f"tandem-bench-prefs-{kind}-"))
    server: Server | None = None
    try:
        step(kind, "fresh database, migrate")
        env = app_env(api_track.prepare_database(kind, workdir, PG_BENCH_DB))
        env["HOSTED_PAGES_RATE_PER_MINUTE"] = "100000000"  # on, but never trips
        manage(env, "migrate", "--no-input", "-v", "0")
        step(kind, f"seed {args.profiles:,} profiles with consent")
        out = manage(env, "shell", "-c", SEED_CODE.format(n=args.profiles))
        paths = [f"/preferences/{t}/" for t in json.loads(out.strip().splitlines()[-1])]
        step(kind, f"start gunicorn ({args.workers} workers)")
        server = Server(env, args.workers, workdir / "gunicorn.log", api_track.APP)
        server.start()
        for path in paths[: 20 * args.workers]:  # imports, connections, template cache
            if get(server.port, path)[0] != 200:
                raise BenchError(f"warm-up GET answered non-200:\n{server.log_tail()}")
        step(kind, f"GET at {args.rate:g}/s for {args.seconds:g} s")
        meter = CpuMeter(server.proc.pid)
        meter.start()
        busy_before, total_before = machine_cpu()
        client_before = time.process_time()
        fire(server.port, paths, args.rate, args.seconds, args.threads, result)
        result.client_cpu = time.process_time() - client_before
        busy_after, total_after = machine_cpu()
        cpu = meter.stop()
        result.client_cpu -= meter.own_cpu
        result.server_cpu, result.database_cpu = cpu["gunicorn"], cpu["postgres"]
        result.machine_busy = (busy_after - busy_before) / max(1, total_after - total_before)
        return result
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            api_track.drop_database(kind, PG_BENCH_DB)
        except Exception as exc:  # cleanup must not hide the real error
            sys.stderr.write(f"[{kind}] could not drop {PG_BENCH_DB}: {exc}\n")


def report(result: Result, args: argparse.Namespace) -> str:
    p99 = result.percentile(99)
    verdict = (
        "met" if p99 <= TARGET_P99_MS and result.statuses["200"] == result.planned else "NOT met"
    )
    if args.rate != TARGET_RATE:
        verdict = f"not comparable (run at {args.rate:g} req/s; {verdict} at this rate)"
    achieved = len(result.latencies) / result.wall_seconds if result.wall_seconds else 0
    wall = result.wall_seconds or 1
    cores = os.cpu_count() or 1
    return "\n".join(
        [
            f"{result.database}: p50 {result.percentile(50):.1f} ms, p95 "
            f"{result.percentile(95):.1f} ms, p99 {p99:.1f} ms, max {result.percentile(100):.1f} ms"
            f" — target p99 <= {TARGET_P99_MS:.0f} ms at {TARGET_RATE} req/s: {verdict}",
            f"    {len(result.latencies):,}/{result.planned:,} GETs in {result.wall_seconds:.1f} s"
            f" ({achieved:.0f} req/s offered {args.rate:g}/s; gunicorn {args.workers} sync "
            f"workers; {args.profiles:,} profiles); answers: "
            + ", ".join(f"{n} x {s}" for s, n in result.statuses.most_common()),
            cpu_line(result, cores, wall),
        ]
    )


def cpu_line(result: Result, cores: int, wall: float) -> str:
    used = {"load generator": result.client_cpu / wall, "gunicorn": result.server_cpu / wall}
    if result.database == "postgres":
        used["postgres backends"] = result.database_cpu / wall
    busy = result.machine_busy * cores
    other = max(0.0, busy - sum(used.values()))
    return (
        f"    CPU: {busy:.2f} of {cores} cores busy = "
        + ", ".join(f"{name} {value:.2f}" for name, value in used.items())
        + f", other processes/OS {other:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20, help="length of the load phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--threads", type=int, default=32, help="load generator threads")
    parser.add_argument("--profiles", type=int, default=2_000, help="profiles seeded")
    args = parser.parse_args(argv)
    if not 1 <= args.profiles <= 10_000:
        parser.error("--profiles 1..10,000 (numbers +1 415 555 0000-9999)")
    if args.rate <= 0 or args.seconds <= 0 or args.workers < 1 or args.threads < 1:
        parser.error("--rate, --seconds, --workers and --threads must be positive")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    command = shlex.join([os.path.relpath(sys.executable, ROOT), *sys.argv])
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    lines, status = [], 0
    for kind in kinds:
        try:
            result = run_one(kind, args)
        except (BenchError, subprocess.TimeoutExpired) as exc:
            lines.append(f"{kind}: FAILED — {exc}")
            status = 1
            continue
        lines.append(report(result, args))
        status |= int(result.statuses["200"] != result.planned)
    print(f"$ {command}")
    print(f"machine: {os.cpu_count()} cores shared by gunicorn, the database and the generator")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
