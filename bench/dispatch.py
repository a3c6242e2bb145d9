"""Messages per second through `channels.services.dispatch`, console adapters, one worker.

One command, from the project folder:

    .venv/bin/python bench/dispatch.py [--database postgres|sqlite] [--messages N] [--batch B]
                                       [--profile] [--dbname NAME] [--no-gc-freeze]

It builds a fresh database (PostgreSQL `tandem_bench_dispatch`, or --dbname, on
postgres@127.0.0.1:5432,
dropped and recreated; or a SQLite file in a temp folder), migrates it, seeds N profiles
subscribed to email (half also to SMS), one marketing email and one marketing SMS
template, queues one message per profile (half email, half SMS, so no frequency cap
defers them) and runs ANALYZE. Then, in this single process (one worker), it dispatches
every message in batches of B through `channels.services.dispatch_many` (B=1: `dispatch`,
one at a time): profile row locks, compliance decisions, render (inlined CSS, tracked
links), claim, console adapter, record. It checks every message ended `sent` and prints
the rate, the SQL statements per message, the worker's CPU a message, its PostgreSQL
backend's CPU (from /proc) and the target it is compared with. `--profile` prints the 25
functions with the most cumulative time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_track  # noqa: E402  (the bench folder is not a package)

ROOT = Path(__file__).resolve().parent.parent
TARGET_PER_SECOND = 2_000  # per worker, on PostgreSQL (issue 4)
PG_DB = "tandem_bench_dispatch"


def fresh_database(kind: str, dbname: str = PG_DB) -> str:
    return api_track.prepare_database(kind, Path(tempfile.mkdtemp()), dbname)


def setup_django(url: str) -> None:
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        TWILIO_ACCOUNT_SID="",
        LOG_LEVEL="WARNING",
        SECURE_SSL_REDIRECT="false",
    )
    os.environ.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, check=True
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _phone(i: int) -> str:
    return f"+1415{200 + i // 10000:03d}{i % 10000:04d}"


def seed(count: int) -> list:
    from channels.models import Message, MessageTemplate
    from compliance.models import ConsentSource, ConsentStatus, Subscription, Topic
    from compliance.services import consent_record
    from profiles.models import Profile

    offers = Topic.objects.get(key="offers")
    email = MessageTemplate.objects.create(
        key="bench-email", name="Bench email", channel="email", topic=offers,
        subject="Hi {{ first_name }}", body_html="<p>Hello {{ first_name }}</p>{{ footer }}",
        body_text="Hello {{ first_name }}\n{{ footer }}",
    )  # fmt: skip
    sms = MessageTemplate.objects.create(
        key="bench-sms", name="Bench SMS", channel="sms", topic=offers,
        sms_body="{{ brand }}: hi {{ first_name }}, 20% off https://shop.example.com/sale",
    )  # fmt: skip
    Profile.objects.bulk_create(
        Profile(email=f"b{i}@example.com", phone=_phone(i) if i % 2 else None,
                first_name=f"P{i}", time_zone="America/Chicago")
        for i in range(count)
    )  # fmt: skip
    profiles = list(Profile.objects.order_by("pk"))
    first = consent_record(profile=profiles[0], channel="email", action="opt_in", source="admin")
    rows = [
        Subscription(profile=p, channel=ch, status=ConsentStatus.SUBSCRIBED,
                     source=ConsentSource.ADMIN, last_event=first, updated_at=first.occurred_at)
        for p in profiles[1:] for ch in (["email", "sms"] if p.phone else ["email"])
    ]  # fmt: skip
    rows += [
        Subscription(profile=profiles[0], channel="sms", status=ConsentStatus.SUBSCRIBED,
                     source=ConsentSource.ADMIN, last_event=first, updated_at=first.occurred_at)
    ] if profiles[0].phone else []  # fmt: skip
    Subscription.objects.bulk_create(rows)
    Message.objects.bulk_create(
        Message(profile=p, template=sms if p.phone else email,
                channel="sms" if p.phone else "email", category="marketing", topic=offers,
                idempotency_key=f"bench:{p.pk}")
        for p in profiles
    )  # fmt: skip
    return list(Message.objects.order_by("pk"))


def dispatch_all(messages: list, batch: int) -> None:
    from channels.services import dispatch, dispatch_many

    if batch == 1:
        for message in messages:
            dispatch(message=message)
        return
    for start in range(0, len(messages), batch):
        dispatch_many(messages=messages[start : start + batch])


def run(
    kind: str,
    count: int,
    batch: int,
    profile: bool,
    sort: str = "cumulative",
    dbname: str = PG_DB,
    statements: bool = False,
    gc_freeze: bool = True,
) -> None:
    setup_django(fresh_database(kind, dbname))
    import time_machine
    from django.db import connection

    from channels.models import Message

    # Noon in Chicago on a Tuesday: inside quiet hours for every profile.
    with time_machine.travel("2026-03-10T17:00:00Z", tick=True):
        messages = seed(count)
        # A live database has planner statistics (autovacuum analyzes a bulk load within a
        # minute or so); without them PostgreSQL scanned every channel consent row per batch.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        # A long-running worker has loaded the phone place data (~1 s, once per process,
        # on the first US text it decides) before the batches this measures.
        from compliance.quiet_hours import recipient_location

        recipient_location(phone="+12125550199")
        # ... and has resolved its URL patterns once (~0.2 s, Django's first reverse()).
        from django.urls import reverse

        reverse("compliance:preferences", args=["x"])
        if gc_freeze:
            # ... and froze its start-up heap (channels.worker, on django-q2's post_spawn).
            # The seeded messages, which a worker would load per task, are frozen with it.
            from channels.worker import freeze_startup_heap

            freeze_startup_heap()
        backend_cpu = _backend_cpu_clock(connection)
        profiler = _profiler(profile)
        # Counted by an execute wrapper, not CaptureQueriesContext: its debug cursor formats
        # every statement with its parameters (a batch's rendered bodies), which a worker
        # does not do.
        queries = []
        timed = _statement_timer(connection) if statements else None
        with connection.execute_wrapper(_counter(queries)), _wrapped(connection, timed):
            started, cpu_started = time.perf_counter(), time.process_time()
            backend_started = backend_cpu()
            dispatch_all(messages, batch)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            backend_ended = backend_cpu()
            backend = None if backend_started is None else backend_ended - backend_started
        if profiler:
            profiler.disable()
    from django.db.models import Count

    statuses = dict(Message.objects.values_list("status").annotate(n=Count("id")))
    assert statuses == {"sent": count}, statuses
    rate = count / elapsed
    how = "dispatch one by one" if batch == 1 else f"dispatch_many, batches of {batch}"
    print(
        f"{kind}: {rate:,.0f} messages/s through {how} ({count:,} messages, half email "
        f"half SMS, console adapters, 1 worker, {elapsed:.1f} s, "
        f"{len(queries) / count:.2f} SQL statements per message); "
        f"target >= {TARGET_PER_SECOND:,}/s per worker on PostgreSQL"
    )
    print(
        f"    worker CPU {cpu:.2f} s of {elapsed:.2f} s wall ({count / cpu:,.0f} messages per "
        f"CPU second, {cpu / count * 1e6:,.0f} us a message); "
        + (
            f"PostgreSQL backend CPU {backend:.2f} s ({backend / count * 1e6:,.0f} us a message); "
            if backend is not None
            else ""
        )
        + f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    if timed:
        timed.report(count)
    if profiler:
        import pstats

        pstats.Stats(profiler).sort_stats(sort).print_stats(25)


def _counter(queries: list):
    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    return count


class _StatementTimer:
    """Per kind of statement (its first words): how many, the worker's wall time waiting on
    them and the backend's CPU time they took (from /proc/PID/schedstat, in ns)."""

    def __init__(self, schedstat: Path):
        self.schedstat, self.kinds = schedstat, {}

    def _cpu_ns(self) -> int:
        return int(self.schedstat.read_text().split()[0])

    def __call__(self, execute, sql, params, many, context):
        words = " ".join(sql.split()[:6])[:70]
        if sql.startswith("UPDATE"):
            words = f"{words} ... {sql.split(' = ')[-3].split()[-1]}"  # the last field set
        cpu, wall = self._cpu_ns(), time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            wall, cpu = time.perf_counter() - wall, self._cpu_ns() - cpu
            n, w, c = self.kinds.get(words, (0, 0.0, 0))
            self.kinds[words] = (n + 1, w + wall, c + cpu)

    def report(self, count: int) -> None:
        print("    statements (count, wall us a message, backend CPU us a message):")
        rows = sorted(self.kinds.items(), key=lambda item: -item[1][2])
        for words, (n, wall, cpu) in rows:
            print(f"    {n:6d} {wall / count * 1e6:8.1f} {cpu / count / 1e3:8.1f}  {words}")
        total = sum(c for _, _, c in self.kinds.values())
        print(f"    backend CPU inside statements: {total / count / 1e3:.1f} us a message")


def _statement_timer(connection):
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return _StatementTimer(Path(f"/proc/{pid}/schedstat"))


def _wrapped(connection, wrapper):
    from contextlib import nullcontext

    return connection.execute_wrapper(wrapper) if wrapper else nullcontext()


def _backend_cpu_clock(connection):
    """A function reading the CPU seconds (user + system) of this connection's PostgreSQL
    backend process from /proc (the server runs on this machine); None where it cannot."""
    if connection.vendor != "postgresql":
        return lambda: None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    stat, tick = Path(f"/proc/{pid}/stat"), os.sysconf("SC_CLK_TCK")

    def read() -> float | None:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / tick

    return read if read() is not None else lambda: None


def _profiler(enabled: bool):
    if not enabled:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=200, help="1: dispatch one at a time")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument(
        "--dbname", default=PG_DB, help=f"PostgreSQL database to drop and recreate ({PG_DB})"
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="time each kind of statement: the worker's wait and the backend's CPU",
    )
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="skip the worker's start-up gc.freeze() (channels.worker)",
    )
    args = parser.parse_args()
    run(
        args.database,
        args.messages,
        args.batch,
        args.profile,
        dbname=args.dbname,
        statements=args.statements,
        gc_freeze=not args.no_gc_freeze,
    )


if __name__ == "__main__":
    main()
