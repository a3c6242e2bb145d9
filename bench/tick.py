"""Journey steps per second with dispatch apart: N enrollments due at once, ticked by 1 and 2
workers while a django-q2 cluster runs the dispatch tasks the ticks hand over.

    .venv/bin/python bench/tick.py [--enrollments 100000] [--database postgres|sqlite]
                                   [--workers 1 2] [--dispatch-workers 1] [--anchor 500]
                                   [--dbname tandem_bench_tick] [--dispatch-nice N]
                                   [--dispatch-after-first-pass]

For each worker count the script makes a fresh database (PostgreSQL `--dbname`, dropped and
recreated), seeds N email-subscribed profiles and an active journey of two steps (a branch
on a trait, then a marketing email through channels' dispatch with the locmem backend),
enrols everyone, starts a real `manage.py qcluster` (ORM broker, --dispatch-workers
workers) for the dispatch side, makes everyone due at once and starts that many `manage.py
journeys_tick` processes. A tick queues each person's message and hands the due ones to
dispatch tasks (journeys.tasks.dispatch_messages); each task sends its messages and runs on
the enrollments it settled (their send steps log "sent"). The clock stops when no
enrollment is active.

It prints, so nothing is hidden:
- the tick workers: wall until the last exits, the steps they logged per second (per
  worker), the enrollments they took through their first pass per second, their CPU and
  their PostgreSQL backends' CPU per step;
- the dispatch side: messages sent per second (first to last sent_at), the steps its tasks
  logged, its CPU and its backends' CPU per message;
- all of it: steps per second until nobody is active, p99 due-to-outbox (message
  created_at - the moment everyone became due) and p99 due-to-sent (sent_at - that moment).

The anchor is the same work as one django-q2 task per enrollment (`async_task` of
journeys.tasks.run_enrollments for each id, run by a one-worker qcluster on the ORM broker):
its steps/s over the first --anchor enrollments, until their messages are sent.

By default the dispatch cluster runs beside the tick workers from the start, on the same
cores: on a small machine the two compete. In production dispatch runs on workers (or
machines) of its own ("outbox first: a tick never sends"); `--dispatch-after-first-pass`
models that on one box: the cluster starts only once every tick worker has taken everyone
through its first pass, so the tick figures (steps/s, CPU, p99 due-to-outbox) are measured
without dispatch on the cores. The tasks the ticks handed over wait in the ORM broker's
queue meanwhile and are each taken once when the cluster starts; the counts below (sent,
steps until nobody is active) are checked as in the default mode, and "all" includes the
cluster's start. `--dispatch-nice N` instead runs the cluster alongside at niceness N (its
PostgreSQL backends are not niced).

Targets: at least 5,000 steps/s per tick worker; p99 due-to-outbox at most 60 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_track  # noqa: E402  (the bench folder is not a package)

ROOT = Path(__file__).resolve().parent.parent
TARGET_PER_WORKER = 5_000
PG_DB = "tandem_bench_tick"
TASK = re.compile(
    r"dispatch task: (?P<messages>\d+) messages, (?P<send>[0-9.]+) s CPU; ran on (?P<ran>\d+) "
    r"enrollments, \d+ steps, (?P<engine>[0-9.]+) s CPU"
)
REPORT = re.compile(
    r"(?P<enrollments>\d+) enrollments, (?P<steps>\d+) steps .*; "
    r"(?P<handed>\d+) messages handed"
)


def fresh_database(kind: str, name: str = PG_DB) -> str:
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()  # the drop below would cut our own connection
    # One fixed folder: Django keeps the first URL it was set up with.
    workdir = Path(tempfile.gettempdir()) / "tandem_bench_tick"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    return api_track.prepare_database(kind, workdir, name)


def environment(url: str) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
           "TWILIO_ACCOUNT_SID": "", "LOG_LEVEL": "WARNING", "SECURE_SSL_REDIRECT": "false",
           "Q_CLUSTER_NAME": "bench-tick", "Q_WORKERS": "1"}  # fmt: skip
    env.pop("REDIS_URL", None)
    return env


def prepare(url: str, count: int) -> None:
    env = environment(url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                   check=True)  # fmt: skip
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connections

    from channels.models import MessageTemplate
    from compliance.models import ConsentSource, ConsentStatus, Subscription
    from compliance.services import consent_record
    from journeys.models import Enrollment, Journey, Step
    from journeys.services import journey_activate
    from profiles.models import Profile

    Profile.objects.bulk_create(
        (Profile(email=f"t{i}@example.com", traits={"tier": "gold" if i % 2 else "silver"})
         for i in range(count)), batch_size=5000,
    )  # fmt: skip
    first = Profile.objects.order_by("pk").first()
    opt_in = consent_record(profile=first, channel="email", action="opt_in",
                            source=ConsentSource.SIGNUP_FORM)  # fmt: skip
    Subscription.objects.bulk_create(
        (Subscription(profile_id=pk, channel="email", status=ConsentStatus.SUBSCRIBED,
                      source=ConsentSource.SIGNUP_FORM, last_event=opt_in,
                      updated_at=opt_in.occurred_at)
         for pk in Profile.objects.exclude(pk=first.pk).values_list("pk", flat=True)),
        batch_size=5000,
    )  # fmt: skip
    MessageTemplate.objects.create(key="tick-mail", name="Tick", channel="email",
                                   subject="Hi", body_html="<p>Hi</p>{{ footer }}",
                                   body_text="Hi {{ footer }}")  # fmt: skip
    journey = Journey.objects.create(name="Bench", trigger_type="manual", reentry="always")
    Step.objects.create(journey=journey, key="tier", type="branch", position=0, yes_step="mail",
                        no_step="mail", settings={"kind": "trait", "trait": "tier", "op": "eq",
                                                  "value": "gold"})  # fmt: skip
    Step.objects.create(journey=journey, key="mail", type="send_email", position=1,
                        settings={"template": "tick-mail"})  # fmt: skip
    version = journey_activate(journey=journey)
    from django.utils import timezone

    now = timezone.now()
    Enrollment.objects.bulk_create(
        (Enrollment(journey=journey, version=version, profile_id=pk, current_step="tier",
                    step_started_at=now, next_run_at=now, entered_at=now)
         for pk in Profile.objects.values_list("pk", flat=True)), batch_size=5000,
    )  # fmt: skip
    if connections["default"].vendor == "postgresql":
        with connections["default"].cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have, for a table that grew slowly
    connections.close_all()


@dataclass
class Side:
    wall: float = 0.0
    steps: int = 0
    cpu: float = 0.0  # user + system seconds of its processes
    db_cpu: float = 0.0  # of their PostgreSQL backends (sampled from /proc)


@dataclass
class Run:
    elapsed: float  # until nobody is active
    tick: Side
    dispatch: Side
    enrollments: int
    handed: int
    sent: int
    send_span: float  # first to last sent_at
    p99_outbox: float
    p99_sent: float
    send_cpu: float  # of the dispatch side's CPU, in dispatch_many (from the tasks' logs)
    resume_cpu: float  # in the journeys' run on after it
    resumed: int  # enrollments it ran on
    people: int = 0  # enrollments in the database
    completed: int = 0  # of them, completed at the end
    taken: int = 0  # messages the dispatch tasks took (each task once: == handed)
    dispatch_started: float = 0.0  # seconds after the clock (--dispatch-after-first-pass)


class CpuMeter(threading.Thread):
    """CPU seconds per group of processes (by process group) and of the bench database's
    PostgreSQL backends (by application_name), sampled every 0.25 s so that processes which
    exit mid-run are still counted, bar their last quarter second."""

    def __init__(self, url: str, groups: dict[str, set[int]]):
        super().__init__(daemon=True)
        self.url, self.groups = url, groups
        self.first: dict[int, float] = {}
        self.latest: dict[int, tuple[str, float]] = {}
        self.done = threading.Event()

    def sample(self, conn) -> dict[int, tuple[str, float]]:
        apps = (
            dict(
                conn.execute(
                    "SELECT pid, application_name FROM pg_stat_activity "
                    "WHERE datname = current_database()"
                ).fetchall()
            )
            if conn
            else {}
        )
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, group = int(entry), None
            if apps.get(pid, "").startswith("bench-"):
                group = "postgres " + apps[pid].removeprefix("bench-")
            else:
                group = next((g for g, pgrps in self.groups.items() if int(fields[2]) in pgrps),
                             None)  # fmt: skip
            if group:
                ticks = int(fields[11]) + int(fields[12])  # utime + stime
                found[pid] = (group, ticks / os.sysconf("SC_CLK_TCK"))
        return found

    def connect(self):
        import psycopg

        if not self.url.startswith("postgres"):
            return contextlib.nullcontext()
        return psycopg.connect(self.url.replace("postgres://", "postgresql://"), autocommit=True)

    def run(self) -> None:
        with self.connect() as conn:
            while not self.done.wait(0.25):
                self.latest.update(self.sample(conn))
            self.latest.update(self.sample(conn))

    def start(self) -> None:
        with self.connect() as conn:
            self.first = {pid: cpu for pid, (_, cpu) in self.sample(conn).items()}
        super().start()

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join()
        totals: dict[str, float] = {}
        for pid, (group, cpu) in self.latest.items():
            totals[group] = totals.get(group, 0.0) + cpu - self.first.get(pid, 0.0)
        return totals


def cluster(url: str, workers: int, log, niceness: int = 0) -> subprocess.Popen:
    # DEBUG: each dispatch task logs its CPU split between sending and the journeys' run on.
    env = {**environment(url), "Q_WORKERS": str(workers), "PGAPPNAME": "bench-dispatch",
           "LOG_LEVEL": "DEBUG"}  # fmt: skip
    # `nice` execs the cluster, so the pid (and its process group) stays the cluster's.
    return subprocess.Popen(
        ["nice", "-n", str(niceness), sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )


def task_split(log: Path) -> tuple[float, float, int, int]:
    """(CPU seconds the dispatch tasks spent sending, and running the journeys on; the
    enrollments they ran on; the messages they took), from their log lines."""
    send = engine = 0.0
    ran = taken = 0
    for found in TASK.finditer(log.read_text(errors="replace")):
        taken += int(found["messages"])
        send += float(found["send"])
        engine += float(found["engine"])
        ran += int(found["ran"])
    return send, engine, ran, taken


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def measure(
    url: str,
    workers: int,
    batch_size: int | None,
    dispatch_workers: int,
    dispatch_nice: int = 0,
    dispatch_after: bool = False,
) -> Run:
    from django.db import connections
    from django.utils import timezone

    from channels.models import Message
    from journeys.models import Enrollment, StepLog

    env = {**environment(url), "PGAPPNAME": "bench-tick"}
    command = [sys.executable, "manage.py", "journeys_tick", "--time-budget", "100000"]
    command += ["--batch-size", str(batch_size)] if batch_size else []
    log_path = Path(tempfile.gettempdir()) / "tandem_bench_tick" / "cluster.log"
    log = log_path.open("w")
    dispatcher, dispatch_started = None, 0.0
    if not dispatch_after:
        dispatcher = cluster(url, dispatch_workers, log, dispatch_nice)
        time.sleep(5)  # the cluster is up before the clock starts
    due = timezone.now()
    Enrollment.objects.update(entered_at=due, step_started_at=due, next_run_at=due)
    connections.close_all()
    groups: dict[str, set[int]] = {"dispatch": set(), "tick": set()}
    if dispatcher:
        groups["dispatch"].add(dispatcher.pid)
    started = time.perf_counter()
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
                              start_new_session=True) for _ in range(workers)]  # fmt: skip
    groups["tick"].update(proc.pid for proc in procs)
    meter = CpuMeter(url, groups)
    meter.start()
    tick = Side()
    handed = 0
    for proc in procs:
        out = proc.stdout.read()
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        tick.wall = time.perf_counter() - started
        tick.cpu += usage.ru_utime + usage.ru_stime
        if found := REPORT.search(out):
            tick.steps += int(found["steps"])
            handed += int(found["handed"])
    if dispatcher is None:
        # Every tick worker is done with its first pass: their dispatch tasks wait in the
        # ORM broker's queue (django_q_ormq) until this cluster starts and takes them.
        dispatch_started = time.perf_counter() - started
        dispatcher = cluster(url, dispatch_workers, log, dispatch_nice)
        groups["dispatch"].add(dispatcher.pid)  # the meter reads the set as it samples
    while Enrollment.objects.filter(status="active").exists():
        time.sleep(0.2)
        if time.perf_counter() - started > 3600:
            raise SystemExit("not done after an hour")
    elapsed = time.perf_counter() - started
    connections.close_all()
    stop(dispatcher)
    log.close()
    cpu = meter.stop()
    total_steps = StepLog.objects.exclude(outcome="entered").count()
    dispatch = Side(wall=elapsed, steps=total_steps - tick.steps, cpu=cpu.get("dispatch", 0.0),
                    db_cpu=cpu.get("postgres dispatch", 0.0))  # fmt: skip
    send_cpu, resume_cpu, resumed, taken = task_split(log_path)
    tick.db_cpu = cpu.get("postgres tick", 0.0)
    people = Enrollment.objects.count()
    completed = Enrollment.objects.filter(status="completed").count()
    times = list(Message.objects.values_list("created_at", "sent_at"))
    sent = sorted(at for _, at in times if at)
    return Run(
        elapsed=elapsed, tick=tick, dispatch=dispatch, enrollments=len(times), handed=handed,
        sent=len(sent), send_span=(sent[-1] - sent[0]).total_seconds() if sent else 0.0,
        p99_outbox=p99([(created - due).total_seconds() for created, _ in times]),
        p99_sent=p99([(at - due).total_seconds() for at in sent]),
        send_cpu=send_cpu, resume_cpu=resume_cpu, resumed=resumed,
        dispatch_started=dispatch_started, taken=taken, people=people, completed=completed,
    )  # fmt: skip


def p99(values: list[float]) -> float:
    values = sorted(values)
    return values[int(len(values) * 0.99) - 1] if values else 0.0


def report(run: Run, database: str, workers: int) -> None:
    tick, dispatch, n = run.tick, run.dispatch, run.enrollments
    rate = tick.steps / tick.wall
    total = tick.steps + dispatch.steps
    engine_cpu = tick.cpu + run.resume_cpu
    print(
        f"{database}, {workers} tick worker(s): {n:,} enrollments through their first pass "
        f"in {tick.wall:.1f} s = {n / tick.wall:,.0f}/s; {tick.steps:,} steps logged there = "
        f"{rate:,.0f} steps/s ({rate / workers:,.0f} per worker; target "
        f"{TARGET_PER_WORKER:,}); {run.handed:,} sends queued and handed to dispatch (their "
        f"steps log when dispatch settled them); p99 due-to-outbox {run.p99_outbox:.1f} s "
        f"(target 60 s)"
    )
    print(
        f"  tick CPU {tick.cpu:.1f} s + its PostgreSQL {tick.db_cpu:.1f} s = "
        f"{tick.cpu / n * 1000:.2f} + {tick.db_cpu / n * 1000:.2f} ms per enrollment"
    )
    print(
        f"  dispatch: {run.sent:,} sent in {run.send_span:.1f} s (first to last) = "
        f"{run.sent / max(run.send_span, 1e-9):,.0f} messages/s; cluster CPU "
        f"{dispatch.cpu:.1f} s + its PostgreSQL {dispatch.db_cpu:.1f} s; of the CPU "
        f"{run.send_cpu:.1f} s sending ({run.send_cpu / max(run.sent, 1) * 1000:.2f} ms a "
        f"message) and {run.resume_cpu:.1f} s running {run.resumed:,} enrollments on "
        f"({dispatch.steps:,} steps)"
    )
    print(
        f"  engine: {total:,} steps in {engine_cpu:.1f} s of CPU (tick + run on) = "
        f"{total / engine_cpu:,.0f} steps per CPU second, PostgreSQL not included"
    )
    print(
        f"  all: {total:,} steps in {run.elapsed:.1f} s until nobody is active = "
        f"{total / run.elapsed:,.0f} steps/s; p99 due-to-sent {run.p99_sent:.1f} s; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    whole = n == run.people == run.completed == run.sent and run.taken == run.handed
    print(
        f"  checked: {run.people:,} enrollments, {run.completed:,} completed; {n:,} messages "
        f"(one row per idempotency key), {run.sent:,} sent; the dispatch tasks took "
        f"{run.taken:,} of the {run.handed:,} handed: "
        + ("every one once" if whole else "MISMATCH (lost or taken twice)")
    )


def anchor(url: str, count: int) -> float:
    """One django-q2 task per enrollment, through a real one-worker cluster."""
    from django.db import connections

    from channels.models import Message
    from journeys.models import Enrollment

    ids = list(Enrollment.objects.filter(status="active").values_list("pk", flat=True)[:count])
    from django_q.tasks import async_task

    for pk in ids:
        async_task("journeys.tasks.run_enrollments", [pk])
    connections.close_all()
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                               env=environment(url), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    started = time.perf_counter()
    sent = Message.objects.filter(status="sent")
    while sent.count() < len(ids) and time.perf_counter() - started < 600:
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    os.killpg(cluster.pid, 9)  # measured; nothing left to finish
    cluster.wait(timeout=30)
    return sent.count() * 2 / elapsed  # two steps per enrollment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--anchor", type=int, default=500)
    parser.add_argument("--batch-size", type=int, help="journeys_tick's; default: its own")
    parser.add_argument("--dispatch-workers", type=int, default=1, help="the cluster's")
    parser.add_argument(
        "--dispatch-nice", type=int, default=0,
        help="run the dispatch cluster at this niceness (e.g. 10), so on a machine with few "
        "cores the tick workers are not slowed by the dispatch of the messages they queue, "
        "as when dispatch runs on machines of its own",
    )  # fmt: skip
    parser.add_argument(
        "--dispatch-after-first-pass", action="store_true",
        help="start the dispatch cluster only once every tick worker has finished its first "
        "pass (their dispatch tasks wait in the ORM broker's queue until then): the tick "
        "workers measured alone, as when dispatch runs on machines of its own",
    )  # fmt: skip
    parser.add_argument("--dbname", default=PG_DB, help="the PostgreSQL database to (re)make")
    args = parser.parse_args()
    for workers in args.workers:
        url = fresh_database(args.database, args.dbname)
        prepare(url, args.enrollments)
        run = measure(url, workers, args.batch_size, args.dispatch_workers, args.dispatch_nice,
                      args.dispatch_after_first_pass)  # fmt: skip
        report(run, args.database, workers)
        if args.dispatch_nice:
            print(f"  (the dispatch cluster ran at niceness {args.dispatch_nice})")
        if args.dispatch_after_first_pass:
            print(
                f"  (--dispatch-after-first-pass: the dispatch cluster started "
                f"{run.dispatch_started:.1f} s after the clock, once every tick worker had "
                "finished; the tick figures are without dispatch on the cores, as with "
                "dispatch on machines of its own; 'all' includes the cluster's start)"
            )
    if args.anchor:
        url = fresh_database(args.database, args.dbname)
        prepare(url, args.anchor)
        print(f"anchor, one django-q2 task per enrollment: {anchor(url, args.anchor):,.0f} "
              "steps/s (1 worker, ORM broker)")  # fmt: skip


if __name__ == "__main__":
    main()
