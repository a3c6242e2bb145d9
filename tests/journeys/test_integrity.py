"""The step log's journey has no foreign-key constraint of its own (a check per row at every
step): its integrity comes from the enrollment's. These tests hold the three things that
keep it: every log row carries its enrollment's journey, that enrollment's constraints keep
the journey from being deleted under it, and a journey goes only once its people (and so
their log rows) are gone."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F, ProtectedError

from compliance.models import ConsentAction, ConsentSource
from compliance.services import consent_record
from journeys import engine
from journeys.models import Enrollment, Journey, StepLog
from journeys.services import enrollment_create, enrollments_exit
from tests.channels.factories import EmailTemplateFactory
from tests.factories import ProfileFactory
from tests.journeys.conftest import make_journey

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged():
    """Two journeys with people who entered, branched, were sent to, and one who exited."""
    EmailTemplateFactory(key="integrity-mail")
    steps = [
        {"key": "tier", "type": "branch", "yes": "mail", "no": "mail",
         "settings": {"kind": "trait", "trait": "tier", "op": "eq", "value": "gold"}},
        {"key": "mail", "type": "send_email", "settings": {"template": "integrity-mail"}},
    ]  # fmt: skip
    journeys = [make_journey(steps, name="One"), make_journey(steps, name="Two")]
    for index in range(3):
        profile = ProfileFactory(traits={"tier": "gold" if index % 2 else "silver"})
        consent_record(profile=profile, channel="email", action=ConsentAction.OPT_IN,
                       source=ConsentSource.SIGNUP_FORM)  # fmt: skip
        for journey in journeys:
            enrollment_create(journey=journey, profile=profile)
    ended = Enrollment.objects.filter(journey=journeys[1]).first()
    enrollments_exit(
        enrollments=Enrollment.objects.filter(pk=ended.pk), outcome="converted", reason="a goal"
    )
    engine.tick()
    return journeys


def test_every_log_row_carries_its_enrollments_journey(at_start, logged, mailoutbox):
    outcomes = set(StepLog.objects.values_list("outcome", flat=True))
    assert {"entered", "branched", "sent"} <= outcomes
    assert StepLog.objects.count() > 10
    assert not StepLog.objects.exclude(journey_id=F("enrollment__journey_id")).exists()


def test_a_journey_with_a_log_cannot_be_deleted_under_it(at_start, logged, mailoutbox):
    journey = logged[0]
    assert StepLog.objects.filter(journey=journey).exists()
    table = Journey._meta.db_table
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [journey.pk])
        connection.check_constraints()  # the deferred checks, as at COMMIT
    assert Journey.objects.filter(pk=journey.pk).exists()


def test_a_journey_is_deleted_only_without_people_and_so_without_log(at_start, logged, mailoutbox):
    gone, kept = logged
    with pytest.raises(ProtectedError):  # its people's enrollments hold its versions
        gone.delete()
    Enrollment.objects.filter(journey=gone).delete()  # their log rows go with them
    assert not StepLog.objects.filter(journey_id=gone.pk).exists()
    gone.delete()
    assert StepLog.objects.filter(journey=kept).exists()
    assert not StepLog.objects.exclude(journey_id=F("enrollment__journey_id")).exists()
