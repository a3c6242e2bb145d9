"""Twilio status callbacks per second through the web server, open loop, with latency
percentiles.

One command, from the project folder:

    .venv/bin/python bench/webhooks.py [--database postgres|sqlite] [--rate 800] [--seconds 20]
                                       [--workers 2] [--threads 64] [--health-checks]
                                       [--app pool|main] [--no-queue]
                                       [--server granian|gunicorn]

It builds a fresh database (as bench/api_track.py does: PostgreSQL `tandem_bench_webhooks`
dropped and recreated, or a SQLite file), seeds sent SMS messages with Twilio MessageSids,
starts the web server (granian's WSGI interface by default, as README.md recommends for the
webhook pool; `--server gunicorn` runs gunicorn's sync workers; CONN_HEALTH_CHECKS off as
recommended for the pool) on a free 127.0.0.1 port and POSTs signed
`/webhooks/twilio/status/` callbacks (Twilio's real form fields; X-Twilio-Signature from
twilio's RequestValidator.compute_signature over PUBLIC_BASE_URL + path): for each message
"sent" then "delivered", and one in twenty repeated, as Twilio's retries are.

By default it runs the recommended production setup for a callback burst: the webhook pool
(`config.wsgi_webhooks`: the webhooks' URLs and the security middleware only; `--app main`
runs `config.wsgi`, the whole site) with `TWILIO_STATUS_QUEUE` on (`--no-queue` turns it
off): the view verifies the signature, queues the callback in Redis (db 9 of
127.0.0.1:6379, flushed first) and answers 204; a django-q2 cluster (`manage.py qcluster`,
one worker) applies the queue in batches. The run is not over until the queue is empty:
it prints how long after the last answer that was, and the cluster's CPU, beside the
web pool's, PostgreSQL's and Redis's.

Open loop: request i is due at start + i / rate whatever happened to the ones before, and
its latency runs from that instant, so a server that falls behind shows it in the
percentiles (no coordinated omission). Every request is a new connection (`Connection:
close`, as Twilio's own requests arrive). At the end it checks that every message is
delivered and every distinct callback was stored once, and prints the rate achieved and
p50/p95/p99 beside the target: >= 800 requests/s with p99 <= 50 ms, every answer a 204. An
open-loop run achieves just under its offered rate (the last request is due (N - 1) / rate
after the first and takes its own latency), so "kept pace" means within 1% of an offered
rate of at least 800/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_track  # noqa: E402  (the bench folder is not a package)
from api_track import (  # noqa: E402
    ROOT,
    BenchError,
    CpuMeter,
    Server,
    app_env,
    drop_database,
    manage,
    prepare_database,
)

# Its own PostgreSQL database, so it never drops the one bench/api_track.py is using.
api_track.PG_BENCH_DB = "tandem_bench_webhooks"
REDIS_BENCH_URL = "redis://127.0.0.1:6379/9"  # flushed at the start: the bench's own
APPS = {"pool": "config.wsgi_webhooks:application", "main": "config.wsgi:application"}

TARGET_RATE = 800  # requests/s
TARGET_P99_MS = 50
PATH = "/webhooks/twilio/status/"
BASE_URL = "https://tandem.example.com"
TOKEN = "bench-auth-token"
ACCOUNT = "AC" + "1" * 32
SERVICE = "MG" + "2" * 32

SEED_CODE = """
from channels.models import Message
from profiles.models import Profile
n = {n}
Profile.objects.bulk_create(
    (Profile(email=f"w{{i}}@example.com", phone=f"+1415{{200 + i // 10000:03d}}{{i % 10000:04d}}")
     for i in range(n)), batch_size=1000)
profiles = list(Profile.objects.order_by("pk").values_list("pk", "phone"))
Message.objects.bulk_create(
    (Message(profile_id=pk, channel="sms", category="marketing", status="sent",
             to_address=phone, body_text="TandemShop: hi", provider="twilio",
             provider_message_id=f"SM{{i:032x}}", idempotency_key=f"bench-webhook:{{i}}")
     for i, (pk, phone) in enumerate(profiles)), batch_size=1000)
print(Message.objects.filter(provider_message_id__startswith="SM").count())
"""

CHECK_CODE = """
from channels.models import Message, ProviderEvent
print(Message.objects.filter(status="delivered").count(), ProviderEvent.objects.count())
"""


class Meter(CpuMeter):
    """CpuMeter plus the drain's cluster (its process group) and the Redis server."""

    GROUPS = ("gunicorn", "postgres", "drain", "redis")

    def __init__(self, server_pgrp: int, drain_pgrp: int | None):
        super().__init__(server_pgrp)
        self.drain_pgrp = drain_pgrp

    def group_of(self, pgrp: int, cmdline: bytes) -> str | None:
        if self.drain_pgrp and pgrp == self.drain_pgrp:
            return "drain"
        if cmdline.startswith(b"redis-server"):
            return "redis"
        return super().group_of(pgrp, cmdline)


class Cluster:
    """`manage.py qcluster` in its own process group (the queue's drain)."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


def wait_drained(timeout: float = 120) -> float:
    """Seconds until the Redis list is empty: a batch leaves it only once applied."""
    import redis

    client, started = redis.Redis.from_url(REDIS_BENCH_URL), time.perf_counter()
    while time.perf_counter() - started < timeout:
        if not client.llen("tandem:webhooks:twilio-status"):
            return time.perf_counter() - started
        time.sleep(0.005)
    raise BenchError(f"the queue was not drained within {timeout:.0f} s")


def callback_body(index: int, status: str) -> tuple[bytes, str]:
    """Twilio's form fields for one status callback, and their signature."""
    from twilio.request_validator import RequestValidator

    sid = f"SM{index:032x}"
    params = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": f"+1415{200 + index // 10000:03d}{index % 10000:04d}",
        "MessagingServiceSid": SERVICE,
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": "+14155559999",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(TOKEN).compute_signature(BASE_URL + PATH, params)
    return urlencode(params).encode(), signature


def plan(rate: int, seconds: float) -> tuple[list[tuple[bytes, str]], int]:
    """The requests in send order (built before the clock starts) and the messages used."""
    total = int(rate * seconds)
    requests, index = [], 0
    while len(requests) < total:
        for status in ("sent", "delivered"):
            requests.append(callback_body(index, status))
            if index % 20 == 7:  # Twilio retries a callback it saw no 2xx for
                requests.append(requests[-1])
        index += 1
    return requests[:total], index


def fire(port: int, requests: list, rate: int, threads: int) -> tuple[list[float], dict, float]:
    """Send request i at start + i/rate from a pool of threads; latencies from that instant."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    cursor = iter(range(len(requests)))
    start = time.perf_counter() + 0.2

    def worker() -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status = post(port, requests[i])
            done = time.perf_counter() - due
            with lock:
                latencies.append(done)
                statuses[status] = statuses.get(status, 0) + 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, statuses, time.perf_counter() - start


def wire(port: int, body: bytes, signature: str) -> bytes:
    """One callback as the bytes Twilio's request puts on the wire (built before the clock)."""
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nUser-Agent: TwilioProxy/1.1\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def post(port: int, raw: bytes) -> int:
    """Send one request on a new connection and read the answer's status. A plain socket,
    not http.client: the generator shares the cores with the server, so it should cost
    little (~0.26 ms of CPU a request here, http.client ~0.57)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(65536):  # the sync worker closes after its answer
                answer += chunk
    except OSError:
        return 0
    return int(answer[9:12]) if answer[:7] == b"HTTP/1." and answer[9:12].isdigit() else 0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tandem-bench-webhooks-"))
    server = cluster = None
    try:
        env = app_env(prepare_database(args.database, workdir))
        env.update(PUBLIC_BASE_URL=BASE_URL, TWILIO_AUTH_TOKEN=TOKEN)
        # The webhook pool's recommended settings (bench/README.md): persistent connections
        # (CONN_MAX_AGE, 60 s by default) without a `SELECT 1` health check per request.
        env.update(CONN_HEALTH_CHECKS="true" if args.health_checks else "false")
        if args.queue:
            import redis

            redis.Redis.from_url(REDIS_BENCH_URL).flushdb()
            env.update(REDIS_URL=REDIS_BENCH_URL, TWILIO_STATUS_QUEUE="true",
                       Q_CLUSTER_NAME="bench-webhooks", Q_WORKERS="1")  # fmt: skip
        manage(env, "migrate", "--no-input", "-v", "0")
        requests, messages = plan(args.rate, args.seconds)
        seeded = int(manage(env, "shell", "-c", SEED_CODE.format(n=messages)).split()[-1])
        server = Server(env, args.workers, workdir / "server.log", APPS[args.app], args.server,
                        args.server_threads)  # fmt: skip
        server.start()
        if args.queue:
            cluster = Cluster(env, workdir / "qcluster.log")
        warm = [callback_body(messages + i, "sent") for i in range(args.workers * 4)]
        fire(server.port, [wire(server.port, *w) for w in warm], 50, 4)
        if args.queue:
            wait_drained()
        meter = Meter(server.proc.pid, cluster.proc.pid if cluster else None)
        meter.start()
        client_cpu = time.process_time()
        raw = [wire(server.port, *r) for r in requests]
        latencies, statuses, wall = fire(server.port, raw, args.rate, args.threads)
        lag = wait_drained() if args.queue else 0.0
        cpu = meter.stop()
        cpu["load generator"] = time.process_time() - client_cpu - meter.own_cpu
        delivered, stored = map(int, manage(env, "shell", "-c", CHECK_CODE).split()[-2:])
        distinct = len(set(requests))
        report(args, latencies, statuses, wall, cpu, (seeded, delivered, stored - len(warm)))
        if args.queue:
            print(
                f"    queue: all applied {lag * 1000:,.0f} ms after the last answer; the "
                f"drain's cluster {cpu['drain'] * 1000 / len(latencies):.2f} ms CPU a "
                f"callback, redis {cpu['redis'] * 1000 / len(latencies):.2f} ms"
            )
        print(f"    distinct callbacks sent {distinct:,}, stored {stored - len(warm):,}")
        ok = statuses.get(204) == len(requests) and stored - len(warm) == distinct
        return 0 if ok and delivered == messages else 1
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if args.database == "postgres":
            drop_database("postgres")


def report(args, latencies, statuses, wall, cpu, counts) -> None:
    seeded, delivered, stored = counts
    achieved = len(latencies) / wall
    p50, p95, p99 = (percentile(latencies, p) * 1000 for p in (50, 95, 99))
    # Open loop: the last request is due (N - 1) / rate after the first and takes its own
    # latency, so a server that keeps pace achieves just under the offered rate. Kept pace:
    # within 1% of it, at an offered rate of at least the target's.
    kept_pace = args.rate >= TARGET_RATE and achieved >= 0.99 * args.rate
    met = kept_pace and statuses.get(204) == len(latencies) and p99 <= TARGET_P99_MS
    print(
        f"{args.database}: {achieved:,.0f} requests/s achieved of {args.rate:,}/s offered "
        f"for {args.seconds:.0f} s ({len(latencies):,} signed Twilio status callbacks, "
        f"{args.server} {APPS[args.app].split(':')[0]} {args.workers} workers, "
        f"{'queued in Redis' if args.queue else 'applied in the request'}, "
        f"{args.threads} client threads); "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms — target >= {TARGET_RATE}/s "
        f"with p99 <= {TARGET_P99_MS} ms: {'met' if met else 'NOT met'}"
    )
    print(
        f"    answers {dict(sorted(statuses.items()))}; {delivered:,} of {seeded:,} messages "
        f"delivered; {stored:,} distinct callbacks stored; CPU {args.server} "
        f"{cpu['gunicorn'] / wall:.2f} cores ({cpu['gunicorn'] * 1000 / len(latencies):.1f} ms "
        f"a request), postgres {cpu['postgres'] / wall:.2f}, load generator "
        f"{cpu['load generator'] / wall:.2f}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--rate", type=int, default=TARGET_RATE, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="web server worker processes")
    parser.add_argument(
        "--server", choices=("granian", "gunicorn"), default="granian",
        help="granian (WSGI): the webhook pool's server; gunicorn: sync workers",
    )  # fmt: skip
    parser.add_argument(
        "--server-threads", type=int, default=1,
        help="granian's application threads per worker (its default, hundreds, thrashes the GIL)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=64, help="load generator threads")
    parser.add_argument(
        "--health-checks",
        action="store_true",
        help="CONN_HEALTH_CHECKS on (a SELECT 1 per request), as for the web pool",
    )
    parser.add_argument(
        "--app", choices=sorted(APPS), default="pool",
        help="pool: config.wsgi_webhooks (webhooks only, lean middleware); main: config.wsgi",
    )  # fmt: skip
    parser.add_argument(
        "--no-queue", dest="queue", action="store_false",
        help="apply each callback in its request (TWILIO_STATUS_QUEUE off)",
    )  # fmt: skip
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.chdir(ROOT)
    try:
        return run(args)
    except BenchError as error:
        print(f"{args.database}: FAILED — {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
