"""Journey steps per second: N enrollments due at once, ticked by 1 and by 2 workers.

    .venv/bin/python bench/tick.py [--enrollments 100000] [--database postgres|sqlite]
                                   [--workers 1 2] [--anchor 500]

For each worker count the script makes a fresh database (PostgreSQL `tandem_bench_tick`,
dropped and recreated), seeds N email-subscribed profiles and an active journey of two
steps (a branch on a trait, then a marketing email through channels' dispatch with the
console adapter), enrols everyone due now, then starts that many `manage.py journeys_tick`
processes at once and waits until no enrollment is active. It prints steps/s overall and
per worker, and the p99 from "due" to "in the outbox" (message created_at - enrolled_at).

The anchor is the same work as one django-q2 task per enrollment (`async_task` of
journeys.tasks.run_enrollments for each id, run by a one-worker qcluster on the ORM broker):
its messages/s over the first --anchor enrollments.

Targets: at least 5,000 steps/s per worker; p99 due-to-outbox at most 60 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_track  # noqa: E402  (the bench folder is not a package)

ROOT = Path(__file__).resolve().parent.parent
TARGET_PER_WORKER = 5_000
PG_DB = "tandem_bench_tick"
DISPATCH = re.compile(r"dispatch ([0-9.]+) s CPU, ([0-9.]+) s wall")


def fresh_database(kind: str) -> str:
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()  # the drop below would cut our own connection
    # One fixed folder: Django keeps the first URL it was set up with.
    workdir = Path(tempfile.gettempdir()) / "tandem_bench_tick"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    return api_track.prepare_database(kind, workdir, PG_DB)


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
    connections.close_all()


@dataclass
class Run:
    elapsed: float
    steps: int
    p99: float
    cpu: float  # user + system seconds of the tick processes
    dispatch_cpu: float  # of which inside channels' dispatch
    dispatch_wall: float  # wall seconds inside dispatch, summed over workers


def measure(url: str, workers: int, batch_size: int | None) -> Run:
    from django.db import connections
    from django.db.models import F

    from channels.models import Message
    from journeys.models import Enrollment, StepLog

    env = environment(url)
    command = [sys.executable, "manage.py", "journeys_tick", "--time-budget", "100000"]
    command += ["--batch-size", str(batch_size)] if batch_size else []
    started = time.perf_counter()
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(workers)]  # fmt: skip
    cpu = dispatch_cpu = dispatch_wall = 0.0
    for proc in procs:
        out = proc.stdout.read()
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        cpu += usage.ru_utime + usage.ru_stime
        if found := DISPATCH.search(out):
            dispatch_cpu += float(found[1])
            dispatch_wall += float(found[2])
    elapsed = time.perf_counter() - started
    connections.close_all()
    assert not Enrollment.objects.filter(status="active").exists()
    steps = StepLog.objects.exclude(outcome="entered").count()
    lags = sorted(
        (m.created_at - m.enrolled).total_seconds()
        for m in Message.objects.annotate(enrolled=F("profile__enrollments__entered_at"))
    )
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else 0.0
    return Run(elapsed, steps, p99, cpu, dispatch_cpu, dispatch_wall)


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
    while Message.objects.count() < len(ids) and time.perf_counter() - started < 600:
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    os.killpg(cluster.pid, 9)  # measured; nothing left to finish
    cluster.wait(timeout=30)
    return Message.objects.count() * 2 / elapsed  # two steps per enrollment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--anchor", type=int, default=500)
    parser.add_argument("--batch-size", type=int, help="journeys_tick's; default: its own")
    args = parser.parse_args()
    for workers in args.workers:
        url = fresh_database(args.database)
        prepare(url, args.enrollments)
        run = measure(url, workers, args.batch_size)
        rate = run.steps / run.elapsed
        print(
            f"{args.database}, {workers} worker(s): {run.steps:,} steps in {run.elapsed:.1f} s "
            f"= {rate:,.0f} steps/s ({rate / workers:,.0f} per worker; target "
            f"{TARGET_PER_WORKER:,}); p99 due-to-outbox {run.p99:.1f} s (target 60 s)"
        )
        print(f"  tick CPU {run.cpu:.1f} s = {run.steps / run.cpu:,.0f} steps per CPU second; "
              f"dispatch {run.dispatch_cpu:.1f} s of it ({run.dispatch_cpu / run.cpu:.0%}), "
              f"{run.dispatch_wall:.1f} s wall of {run.elapsed * workers:.1f}; without dispatch "
              f"{run.steps / (run.cpu - run.dispatch_cpu):,.0f} steps per CPU second; "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.anchor:
        url = fresh_database(args.database)
        prepare(url, args.anchor)
        print(f"anchor, one django-q2 task per enrollment: {anchor(url, args.anchor):,.0f} "
              "steps/s (1 worker, ORM broker)")  # fmt: skip


if __name__ == "__main__":
    main()
