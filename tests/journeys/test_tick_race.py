"""Two real django-q2 clusters tick the same enrollments and run the dispatch tasks the ticks
hand over: each message goes once, and a cluster killed with SIGKILL mid-batch or mid-task
loses nobody (its leases expire, its lost tasks' messages are handed again after the wait,
and the other cluster's ticks resume them)."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db.models import Count

from channels.models import Message
from channels.services.results import RECORD_EVERY
from compliance.models import ConsentSource, ConsentStatus, Subscription
from compliance.services import consent_record
from journeys.models import Enrollment, EnrollmentStatus
from journeys.services import enrollment_create
from profiles.models import Profile
from tests.channels.factories import EmailTemplateFactory
from tests.journeys.conftest import make_journey
from tests.postgres import require_postgres, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PEOPLE = 400
LEASE_SECONDS = 4
ENQUEUE = """
import sys
import django

django.setup()
from django_q.tasks import async_task

for _ in range(int(sys.argv[1])):
    async_task("journeys.tasks.tick", batch_size=100)  # both clusters get batches
"""


@pytest.fixture(autouse=True)
def _postgres_only():
    require_postgres()


def _env() -> dict:
    env = worker_env(Q_CLUSTER_NAME=f"race-{os.getpid()}", Q_WORKERS="1",
                     JOURNEYS_LEASE_SECONDS=str(LEASE_SECONDS),
                     JOURNEYS_HANDOFF_WAIT_SECONDS=str(LEASE_SECONDS))  # fmt: skip
    env.pop("REDIS_URL", None)  # the ORM broker in the test database: nothing shared
    return env


def _cluster() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip


def _enqueue(ticks: int) -> None:
    subprocess.run([sys.executable, "-c", ENQUEUE, str(ticks)], env=_env(), check=True)


def _people(journey) -> None:
    first = Profile.objects.create(email="p0@example.com")
    opt_in = consent_record(profile=first, channel="email", action="opt_in",
                            source=ConsentSource.SIGNUP_FORM)  # fmt: skip
    others = Profile.objects.bulk_create(
        Profile(email=f"p{i}@example.com") for i in range(1, PEOPLE)
    )
    Subscription.objects.bulk_create(
        Subscription(profile=p, channel="email", status=ConsentStatus.SUBSCRIBED,
                     source=ConsentSource.SIGNUP_FORM, last_event=opt_in,
                     updated_at=opt_in.occurred_at)
        for p in others
    )  # fmt: skip
    for profile in Profile.objects.all():
        enrollment_create(journey=journey, profile=profile)


def _stop(cluster: subprocess.Popen) -> None:
    if cluster.poll() is None:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=10)


def _ticking(predicate, seconds: float) -> bool:
    """As the minute schedule would (faster): a tick queued every few seconds until done."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        _enqueue(1)
        time.sleep(2)
    return False


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_two_clusters_send_each_message_once_and_survive_a_kill(settings):
    EmailTemplateFactory(key="race-mail", topic=None)
    journey = make_journey([{"key": "mail", "type": "send_email",
                             "settings": {"template": "race-mail"}}])  # fmt: skip
    _people(journey)
    a, b = _cluster(), _cluster()
    try:
        _enqueue(4)
        started = _wait(lambda: Message.objects.filter(status="sent").count() >= 20, 60)
        assert started, "the clusters never started sending"
        os.killpg(a.pid, signal.SIGKILL)  # mid-batch: its claimed people hold leases
        a.wait(timeout=10)
        time.sleep(LEASE_SECONDS + 1)
        # The survivor's next ticks take over the expired leases, and hand again what the
        # killed cluster's lost tasks were to send.
        done = _ticking(lambda: not Enrollment.objects.filter(
            status=EnrollmentStatus.ACTIVE).exists(), 120)  # fmt: skip
    finally:
        for cluster in (a, b):
            _stop(cluster)
    assert done, (
        list(Enrollment.objects.values("status").annotate(n=Count("id"))),
        list(Message.objects.values("status").annotate(n=Count("id"))),
    )
    keys = Message.objects.values("idempotency_key").annotate(n=Count("id"))
    assert keys.count() == PEOPLE
    assert all(row["n"] == 1 for row in keys)
    # A message the killed worker had claimed stays "sending" (later "unknown"): never resent.
    # Dispatch records its successes every RECORD_EVERY messages, so at most that many stay.
    statuses = dict(Message.objects.values_list("status").annotate(n=Count("id")))
    assert set(statuses) <= {"sent", "sending"}
    assert statuses.get("sending", 0) <= RECORD_EVERY
