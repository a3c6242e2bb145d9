"""On PostgreSQL a tick claims the next batch and saves the last one on a second connection
while it runs the current one: every enrollment still runs once, from its own claim, and
its positions, step log and hand-off are saved as one batch at a time saves them."""

import time

import pytest
from django.db import connection

from channels.models import Message
from journeys import engine
from journeys.models import Enrollment, EnrollmentStatus, StepLog
from tests.channels.factories import EmailTemplateFactory
from tests.journeys.conftest import make_journey
from tests.journeys.test_batch import enrol
from tests.postgres import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    require_postgres()


@pytest.fixture
def mail_flow():
    EmailTemplateFactory(key="overlap-mail", topic=None)  # the flush after each test drops topics
    return make_journey([
        {"key": "tier", "type": "branch", "yes": "mail", "no": "mail",
         "settings": {"kind": "trait", "trait": "tier", "op": "eq", "value": "gold"}},
        {"key": "mail", "type": "send_email", "settings": {"template": "overlap-mail"}},
    ])  # fmt: skip


def test_an_overlapped_tick_runs_each_enrollment_once_in_batches(at_start, mail_flow, mailoutbox):
    enrollments = enrol(mail_flow, 13, "gold") + enrol(mail_flow, 12, "silver")
    assert engine._overlap()  # outside a transaction, on PostgreSQL

    report = engine.tick(batch_size=4)

    assert (report.batches, report.enrollments, report.steps, report.handed) == (7, 25, 25, 25)
    assert report.outcomes == {"branched": 25}
    # The dispatch tasks (run at once here) sent each message and ran each enrollment on.
    assert len(mailoutbox) == 25
    assert Message.objects.filter(status="sent").count() == 25
    assert sorted(Message.objects.values_list("source_id", flat=True)) == sorted(
        e.pk for e in enrollments
    )
    assert set(Enrollment.objects.values_list("status", "lease_token", "lease_until")) == {
        (EnrollmentStatus.COMPLETED, "", None)
    }
    for enrollment in enrollments:
        steps = list(
            StepLog.objects.filter(enrollment=enrollment)
            .order_by("id")
            .values_list("step", "outcome")
        )
        assert steps == [("tier", "entered"), ("tier", "branched"), ("mail", "sent")]
    # Nothing is left for the next tick, and the helper thread's connection is closed.
    assert engine.tick(batch_size=4).batches == 0
    assert _other_clients() == 0


def _other_clients(wait: float = 5.0) -> int:
    """Client connections to the test database besides ours (autovacuum's workers are not
    clients). A backend leaves pg_stat_activity a moment after its client hung up, so this
    waits up to `wait` seconds for the count to reach 0."""
    deadline = time.monotonic() + wait
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            count = cursor.fetchone()[0]
            if count == 0 or time.monotonic() > deadline:
                return count
            time.sleep(0.05)


def test_an_overlapped_tick_with_no_time_claims_nothing(at_start, mail_flow):
    enrol(mail_flow, 3, "gold")

    report = engine.tick(time_budget=0)

    assert report.batches == 0
    assert Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE, lease_token="").count() == 3
