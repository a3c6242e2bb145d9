"""Throughput of `POST /api/v1/batch` with Segment `track` calls, on SQLite and PostgreSQL.

One command, from the project folder:

    .venv/bin/python bench/api_track.py [--database sqlite|postgres|both] [--events N]
                                        [--clients C] [--workers W]

For each database it builds a fresh database, migrates it, creates an API token, seeds
10,000 profiles, starts gunicorn (`config.wsgi`) on a free 127.0.0.1 port, fires
100-event batches from C client threads (stdlib http.client, keep-alive where the server
allows it), checks that every event landed, stops the server and prints one line:

    postgres: 552 events/s (100 per batch, 4 clients, gunicorn 2 workers), p50 556 ms, ...

~90% of the events name an existing profile (userId), ~10% a new one. A batch answered
with a 5xx is retried (as Segment's libraries do; messageId makes that safe) and the
retries are reported. The load generator runs on the same machine as the server and the
database, so the figure is a floor, not a ceiling. Traffic goes to 127.0.0.1 only; the
load phase stops at --max-seconds and the server is stopped even on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_EVENTS_PER_SECOND = 2_000  # the PostgreSQL anchor this benchmark is compared with
APP = "config.wsgi:application"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "tandem_bench"
DEFAULT_EVENTS = {"postgres": 50_000, "sqlite": 20_000}

PRODUCTS = [
    ("sku-1001", "Linen Shirt", "Apparel", 49.00),
    ("sku-1002", "Canvas Tote", "Bags", 24.50),
    ("sku-1003", "Merino Beanie", "Accessories", 29.99),
    ("sku-1004", "Trail Runner", "Shoes", 119.00),
    ("sku-1005", "Ceramic Mug", "Home", 18.00),
    ("sku-1006", "Rain Jacket", "Apparel", 159.00),
    ("sku-1007", "Wool Socks (3)", "Accessories", 21.00),
    ("sku-1008", "Desk Lamp", "Home", 64.00),
]

SEED_CODE = """
import random
import re
from profiles.models import Profile
n = {n}
rng = random.Random(7)
countries = ["US", "US", "US", "CA", "GB", "DE", "FR", "AU"]
zones = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London"]
Profile.objects.bulk_create(
    (
        Profile(
            external_id=f"user-{{i:06d}}",
            email=f"user{{i:06d}}@example.com",
            first_name=f"First{{i}}",
            last_name=f"Last{{i}}",
            country=rng.choice(countries),
            time_zone=rng.choice(zones),
            locale="en-US",
            traits={{"plan": rng.choice(["free", "plus", "pro"]), "orders": rng.randint(0, 40)}},
        )
        for i in range(n)
    ),
    batch_size=1000,
)
print(Profile.objects.count())
"""


class BenchError(Exception):
    pass


@dataclass
class Result:
    database: str
    events_planned: int
    events_sent: int = 0
    batches_ok: int = 0
    batches_failed: int = 0
    retries: int = 0
    new_users: int = 0
    wall_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    server_errors: Counter[str] = field(default_factory=Counter)
    events_in_db: int = 0
    profiles_in_db: int = 0
    profiles_expected: int = 0
    client_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    database_cpu_seconds: float = 0.0
    machine_busy: float = 0.0
    stopped_early: bool = False

    @property
    def events_per_second(self) -> float:
        return self.events_sent / self.wall_seconds if self.wall_seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]


# --- Database preparation -------------------------------------------------------------------


def prepare_database(kind: str, workdir: Path, name: str | None = None) -> str:
    """A SQLite file in workdir, or PostgreSQL database `name` dropped and made anew."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    import psycopg

    name = name or PG_BENCH_DB
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        raise BenchError(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}") from exc
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def drop_database(kind: str, name: str | None = None) -> None:
    if kind != "postgres":
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name or PG_BENCH_DB} WITH (FORCE)")


def count_rows(kind: str, database_url: str) -> tuple[int, int]:
    """(events, profiles) in the bench database, read directly (not through the app)."""
    sql_events = "SELECT count(*) FROM profiles_event"
    sql_profiles = "SELECT count(*) FROM profiles_profile"
    if kind == "sqlite":
        path = database_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path, timeout=30)
        try:
            return conn.execute(sql_events).fetchone()[0], conn.execute(sql_profiles).fetchone()[0]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database_url, connect_timeout=5) as conn:
        return (
            conn.execute(sql_events).fetchone()[0],
            conn.execute(sql_profiles).fetchone()[0],
        )


def app_env(database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")
    }
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    cmd = [sys.executable, str(ROOT / "manage.py"), *args]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise BenchError(f"`manage.py {args[0]}` failed ({proc.returncode}):\n{tail}")
    return proc.stdout


# --- Server ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn (sync workers) or granian (WSGI), in its own process group, so stopping it
    stops every worker."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        log_path: Path,
        app: str,
        kind: str = "gunicorn",
        threads: int = 1,
    ):
        self.env = env
        self.app = app
        self.kind = kind
        self.threads = threads  # granian's blocking (application) threads per worker
        self.workers = workers
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        program = BIN / self.kind
        if not program.exists():
            raise BenchError(f"{program} not found; install the project (make install)")
        if self.kind == "granian":
            return [
                str(program),
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--blocking-threads",
                str(self.threads),
                "--no-ws",
                "--log-level",
                "warning",
                self.app,
            ]
        return [
            str(program),
            self.app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]

    def start(self, timeout: float = 60) -> None:
        cmd = self.command()
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.kind} exited early:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.kind} did not answer /healthz within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()

    def exceptions(self) -> Counter[str]:
        """The last line of each traceback in the server log, counted."""
        found: Counter[str] = Counter()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return found
        for line in text.splitlines():
            if line and not line[0].isspace() and re.match(r"^[\w.]+(Error|Exception)\b", line):
                found[line[:100]] += 1
        return found

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""


class CpuMeter(threading.Thread):
    """CPU seconds of gunicorn (its process group) and of the bench database's PostgreSQL
    backends, sampled from /proc every 0.25s so that backends which exit mid-run (after
    CONN_MAX_AGE) are still counted, bar their last quarter second."""

    GROUPS = ("gunicorn", "postgres")

    def __init__(self, server_pgrp: int):
        super().__init__(daemon=True)
        self.server_pgrp = server_pgrp
        self.first: dict[int, int] | None = None
        self.latest: dict[int, tuple[str, int]] = {}
        self.done = threading.Event()
        self.own_cpu = 0.0

    def sample(self) -> dict[int, tuple[str, int]]:
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            group = self.group_of(int(fields[2]), cmdline)
            if group is None:
                continue
            found[int(entry)] = (group, int(fields[11]) + int(fields[12]))  # utime + stime
        return found

    def group_of(self, pgrp: int, cmdline: bytes) -> str | None:
        """Which of GROUPS a process counts under (its process group, its command line)."""
        if pgrp == self.server_pgrp:
            return "gunicorn"
        if cmdline.startswith(b"postgres:") and PG_BENCH_DB.encode() in cmdline:
            return "postgres"
        return None

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.latest.update(self.sample())
        self.own_cpu = time.thread_time()  # reported apart from the load generator's

    def start(self) -> None:
        first = self.sample()
        self.first = {pid: ticks for pid, (_, ticks) in first.items()}
        self.latest.update(first)
        super().start()

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join()
        self.latest.update(self.sample())
        totals = dict.fromkeys(self.GROUPS, 0.0)
        tick = os.sysconf("SC_CLK_TCK")
        for pid, (group, ticks) in self.latest.items():
            totals[group] += (ticks - (self.first or {}).get(pid, 0)) / tick
        return totals


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# --- Load ---------------------------------------------------------------------------------------


def build_batches(
    events: int, batch_size: int, population: int, new_ratio: float, run_id: str
) -> tuple[list[bytes], int]:
    """Pre-encoded request bodies (built before the clock starts) and the new-user count."""
    rng = random.Random(42)
    bodies = []
    new_users = 0
    sequence = 0
    now = datetime.now(UTC)
    for start in range(0, events, batch_size):
        items = []
        for _ in range(min(batch_size, events - start)):
            sequence += 1
            if rng.random() < new_ratio:
                new_users += 1
                user_id = f"new-{run_id}-{sequence:07d}"
            else:
                user_id = f"user-{rng.randrange(population):06d}"
            sku, name, category, price = rng.choice(PRODUCTS)
            items.append(
                {
                    "type": "track",
                    "userId": user_id,
                    "event": "Product Viewed",
                    "properties": {
                        "product_id": sku,
                        "sku": sku,
                        "name": name,
                        "category": category,
                        "price": price,
                        "currency": "USD",
                        "url": f"https://shop.example.com/p/{sku}",
                    },
                    "context": {"library": {"name": "tandem-bench", "version": "1"}},
                    "messageId": f"bench-{run_id}-{sequence:07d}",
                    "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                }
            )
        bodies.append(json.dumps({"batch": items}).encode())
    return bodies, new_users


def fire(
    port: int,
    token: str,
    bodies: list[bytes],
    batch_size: int,
    clients: int,
    max_seconds: float,
    result: Result,
    retries: int = 3,
) -> None:
    work: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
    for index, body in enumerate(bodies):
        work.put((min(batch_size, result.events_planned - index * batch_size), body))
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "tandem-bench",
    }

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while time.monotonic() < deadline:
                try:
                    expected, body = work.get_nowait()
                except queue.Empty:
                    return
                for attempt in range(retries + 1):
                    started = time.perf_counter()
                    try:
                        conn.request("POST", "/api/v1/batch", body=body, headers=headers)
                        response = conn.getresponse()
                        payload = response.read()
                        status = response.status
                    except (OSError, http.client.HTTPException) as exc:
                        conn.close()
                        status, payload = 0, repr(exc).encode()
                    elapsed = time.perf_counter() - started
                    if status == 200:
                        answer = json.loads(payload)
                        with lock:
                            result.latencies.append(elapsed)
                            if answer.get("succeeded") == expected:
                                result.batches_ok += 1
                                result.events_sent += expected
                            else:
                                result.batches_failed += 1
                                bad = [r for r in answer.get("results", []) if not r.get("ok")]
                                result.errors[f"partial batch: {bad[:1]}"[:120]] += 1
                        break
                    with lock:
                        result.errors[f"HTTP {status}" if status else payload[:80].decode()] += 1
                        if status != 0 and status < 500 or attempt == retries:
                            result.batches_failed += 1
                            break
                        result.retries += 1
                    time.sleep(0.05 * (attempt + 1))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.stopped_early = not work.empty()


# --- One database -------------------------------------------------------------------------------


def run_one(kind: str, args: argparse.Namespace, run_id: str) -> Result:
    events = args.events or DEFAULT_EVENTS[kind]
    result = Result(database=kind, events_planned=events)
    workdir = Path(tempfile.mkdtemp(prefix=f"tandem-bench-{kind}-"))
    server: Server | None = None
    try:
        step(kind, "fresh database")
        database_url = prepare_database(kind, workdir)
        env = app_env(database_url)
        step(kind, "migrate")
        manage(env, "migrate", "--no-input", "-v", "0")
        token = manage(env, "create_api_token", "bench").strip().splitlines()[-1].strip()
        step(kind, f"seed {args.profiles:,} profiles")
        seeded = int(manage(env, "shell", "-c", SEED_CODE.format(n=args.profiles)).split()[-1])
        bodies, result.new_users = build_batches(
            events, args.batch_size, args.profiles, args.new_users, f"{run_id}{kind[0]}"
        )
        step(kind, f"start gunicorn ({args.workers} workers)")
        server = Server(env, args.workers, workdir / "gunicorn.log", args.app)
        server.start()
        warm_up(server.port, token, args.clients)
        before_events, _ = count_rows(kind, database_url)
        step(kind, f"fire {events:,} events from {args.clients} clients")
        cpu_before = time.process_time()
        meter = CpuMeter(server.proc.pid)
        meter.start()
        busy_before, total_before = machine_cpu()
        started = time.perf_counter()
        fire(
            server.port,
            token,
            bodies,
            args.batch_size,
            args.clients,
            args.max_seconds,
            result,
        )
        result.wall_seconds = time.perf_counter() - started
        busy_after, total_after = machine_cpu()
        cpu = meter.stop()
        result.client_cpu_seconds = time.process_time() - cpu_before - meter.own_cpu
        result.server_cpu_seconds = cpu["gunicorn"]
        result.database_cpu_seconds = cpu["postgres"]
        result.machine_busy = (busy_after - busy_before) / max(1, total_after - total_before)
        events_after, result.profiles_in_db = count_rows(kind, database_url)
        result.events_in_db = events_after - before_events
        sent_new = result.new_users if not result.stopped_early else None
        result.profiles_expected = seeded + sent_new if sent_new is not None else -1
        result.server_errors = server.exceptions()
        return result
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            try:
                drop_database(kind)
            except Exception as exc:  # cleanup must not hide the real error
                sys.stderr.write(f"[{kind}] could not drop {PG_BENCH_DB}: {exc}\n")
        else:
            sys.stderr.write(f"[{kind}] kept {workdir}\n")


def warm_up(port: int, token: str, clients: int) -> None:
    """One small batch per worker-ish, so imports and connections are paid before timing."""
    body = json.dumps(
        {
            "batch": [
                {"type": "track", "userId": "user-000000", "event": "Warm Up", "properties": {}}
            ]
        }
    ).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for _ in range(max(4, clients * 2)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/api/v1/batch", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 200:
            raise BenchError(f"warm-up batch answered HTTP {response.status}")


def step(kind: str, message: str) -> None:
    sys.stderr.write(f"[{kind}] {message}\n")
    sys.stderr.flush()


def report(result: Result, args: argparse.Namespace) -> str:
    cores = os.cpu_count() or 1
    line = (
        f"{result.database}: {result.events_per_second:,.0f} events/s "
        f"({args.batch_size} per batch, {args.clients} clients, gunicorn {args.workers} workers"
        + ("" if args.app == APP else f" running {args.app}")
        + "), "
        f"p50 {result.percentile(50) * 1000:,.0f} ms, p99 {result.percentile(99) * 1000:,.0f} ms"
    )
    if result.database == "postgres":
        verdict = "met" if result.events_per_second >= TARGET_EVENTS_PER_SECOND else "NOT met"
        line += f" — target >= {TARGET_EVENTS_PER_SECOND:,} events/s on PostgreSQL: {verdict}"
    else:
        line += f" — no SQLite target (anchor: {TARGET_EVENTS_PER_SECOND:,} events/s on PostgreSQL)"
    if not result.wall_seconds:
        return line + "\n    no events sent"
    ok = result.events_in_db == result.events_sent and result.profiles_in_db in (
        result.profiles_expected,
        -1,
    )
    lines = [
        line,
        f"    {result.events_sent:,}/{result.events_planned:,} events in "
        f"{result.wall_seconds:.1f}s; database holds {result.events_in_db:,} new events "
        f"({'OK' if ok else 'MISMATCH'}), {result.profiles_in_db:,} profiles "
        f"(expected {result.profiles_expected:,}); {result.batches_failed} failed batches, "
        f"{result.retries} retried"
        + (" ; STOPPED at --max-seconds" if result.stopped_early else ""),
    ]
    lines += [f"    client saw {n} x {e}" for e, n in result.errors.most_common(3)]
    lines += [f"    server raised {n} x {e}" for e, n in result.server_errors.most_common(3)]
    wall = result.wall_seconds
    used = {
        "load generator": result.client_cpu_seconds / wall,
        "gunicorn": result.server_cpu_seconds / wall,
        "postgres backends": result.database_cpu_seconds / wall,
    }
    if result.database != "postgres":
        del used["postgres backends"]
    busy = result.machine_busy * cores
    other = max(0.0, busy - sum(used.values()))
    lines.append(
        f"    CPU: {busy:.2f} of {cores} cores busy = "
        + ", ".join(f"{name} {value:.2f}" for name, value in used.items())
        + f", other processes/OS {other:.2f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="events per database (default: 50,000 on PostgreSQL, 20,000 on SQLite)",
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--profiles", type=int, default=10_000, help="profiles seeded first")
    parser.add_argument("--new-users", type=float, default=0.10, help="share of unknown userIds")
    parser.add_argument("--max-seconds", type=float, default=300, help="cap on the load phase")
    parser.add_argument(
        "--app",
        default=APP,
        help="WSGI app for gunicorn, to A/B a patch (extra modules via PYTHONPATH)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = parser.parse_args(argv)
    if not 1 <= args.batch_size <= 1000 or args.clients < 1 or args.workers < 1:
        parser.error("--batch-size 1..1000, --clients and --workers >= 1")
    if args.events is not None and args.events < 1:
        parser.error("--events must be positive")

    # A SIGTERM (e.g. from a CI timeout) unwinds through the `finally` that stops gunicorn.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    command = shlex.join([os.path.relpath(sys.executable, ROOT), *sys.argv])
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    run_id = uuid.uuid4().hex[:8]
    lines = []
    status = 0
    for kind in kinds:
        try:
            result = run_one(kind, args, run_id)
        except (BenchError, subprocess.TimeoutExpired) as exc:
            lines.append(f"{kind}: FAILED — {exc}")
            status = 1
            continue
        lines.append(report(result, args))
        if result.events_in_db != result.events_sent or result.batches_failed:
            status = 1
    print(f"$ {command}")
    print(
        f"machine: {os.cpu_count()} cores shared by gunicorn, the database and the load generator"
    )
    for line in lines:
        print(line)
    return status


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
