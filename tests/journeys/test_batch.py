"""A claimed batch runs set-based: its statements do not grow with its size, and its saves
are guarded by the lease and the status like one enrollment's were."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels.models import Message
from compliance.models import ConsentAction, ConsentSource
from compliance.services import consent_record
from journeys import engine
from journeys.models import Enrollment, EnrollmentStatus, StepLog
from journeys.services import enrollment_create
from tests.channels.factories import EmailTemplateFactory
from tests.factories import ProfileFactory
from tests.journeys.conftest import make_journey

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_flow():
    EmailTemplateFactory(key="batch-mail")
    return make_journey([
        {"key": "tier", "type": "branch", "yes": "mail", "no": "mail",
         "settings": {"kind": "trait", "trait": "tier", "op": "eq", "value": "gold"}},
        {"key": "mail", "type": "send_email", "settings": {"template": "batch-mail"}},
    ])  # fmt: skip


def enrol(journey, count: int, tier: str) -> list[Enrollment]:
    enrollments = []
    for _ in range(count):
        profile = ProfileFactory(time_zone="America/New_York", traits={"tier": tier})
        consent_record(profile=profile, channel="email", action=ConsentAction.OPT_IN,
                       source=ConsentSource.SIGNUP_FORM)  # fmt: skip
        enrollments.append(enrollment_create(journey=journey, profile=profile))
    return enrollments


def test_the_statements_of_a_batch_do_not_grow_with_its_size(at_start, mail_flow, mailoutbox):
    enrol(mail_flow, 1, "gold")
    engine.tick()  # the template and the like are read once per process
    enrol(mail_flow, 3, "gold")
    with CaptureQueriesContext(connection) as few:
        engine.tick()
    enrol(mail_flow, 20, "silver")  # SQLite takes 999 parameters: 20 messages in one INSERT
    with CaptureQueriesContext(connection) as many:
        engine.tick()

    assert len(many) == len(few)
    assert len(mailoutbox) == 24
    assert not Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE).exists()
    assert StepLog.objects.filter(step="mail", outcome="sent").count() == 24


def test_a_batch_does_not_bring_back_an_enrollment_ended_or_taken_meanwhile(
    at_start, mail_flow, mailoutbox
):
    ended, taken, plain = enrol(mail_flow, 3, "gold")
    batch = engine.claim(limit=10)
    # While the batch runs: a goal event ends one, and another worker holds the other's lease
    # (ours expired).
    Enrollment.objects.filter(pk=ended.pk).update(status=EnrollmentStatus.EXITED,
                                                  exit_reason="goal: Order Completed")  # fmt: skip
    Enrollment.objects.filter(pk=taken.pk).update(lease_token="another-worker")

    engine.run_batch(batch, engine.TickReport())

    ended.refresh_from_db()
    taken.refresh_from_db()
    plain.refresh_from_db()
    assert (ended.status, ended.exit_reason) == (EnrollmentStatus.EXITED, "goal: Order Completed")
    assert (taken.status, taken.current_step, taken.lease_token) == (
        EnrollmentStatus.ACTIVE, "tier", "another-worker"
    )  # fmt: skip
    assert (plain.status, plain.lease_token, plain.lease_until) == (
        EnrollmentStatus.COMPLETED, "", None
    )  # fmt: skip
    assert plain.state["messages"]["mail"]["id"] == Message.objects.get(profile=plain.profile).pk
    # The ended one's message, queued by the batch before it knew, is not sent.
    assert Message.objects.get(profile=ended.profile).status == "cancelled"


def test_the_lease_is_the_setting_even_with_a_paced_sender(settings):
    """A batch sends nothing (dispatch runs in its own tasks): 1 text a second does not
    stretch its lease."""
    settings.JOURNEYS_LEASE_SECONDS = 300
    settings.SMS_SEND_RATE_PER_SECOND = 1.0
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "1" * 32, "token"
    settings.TWILIO_FROM_NUMBER, settings.TWILIO_MESSAGING_SERVICE_SID = "+15005550006", ""

    assert engine.lease() == timedelta(seconds=300)
