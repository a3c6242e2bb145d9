from datetime import UTC, datetime

import pytest

from compliance.models import ConsentAction, ConsentSource
from compliance.services import consent_record
from journeys.models import Journey, Step
from journeys.services import journey_activate
from tests.factories import ProfileFactory

START = datetime(2025, 6, 10, 14, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


def make_journey(steps: list[dict], *, activate: bool = True, **fields) -> Journey:
    """A journey from step dicts: key, type, settings, next/yes/no (shorthand 'next')."""
    fields.setdefault("name", "Test journey")
    journey = Journey.objects.create(**fields)
    for position, step in enumerate(steps):
        Step.objects.create(
            journey=journey,
            key=step["key"],
            type=step["type"],
            settings=step.get("settings", {}),
            next_step=step.get("next", ""),
            yes_step=step.get("yes", ""),
            no_step=step.get("no", ""),
            position=position,
        )
    if activate:
        journey_activate(journey=journey)
    return journey


@pytest.fixture(autouse=True)
def empty_cache():
    from django.core.cache import cache

    from journeys import routing, sending

    cache.clear()  # the date-trait scan remembers journeys by id between tests otherwise
    sending._TEMPLATES.clear()  # template rows are gone after each test's rollback
    routing.forget()  # so are the journeys
    yield


@pytest.fixture(autouse=True)
def tasks_run_at_once(monkeypatch):
    """django-q2's sync mode: a queued task (a tick's dispatch, an event's immediate run) runs
    at once, in the test, through django-q2's own worker code, as a cluster would run it.
    django-q2 reads Q_CLUSTER once at import: its Conf is where the mode lives."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def journey_factory(db):
    return make_journey


@pytest.fixture
def at_start(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def person(settings):
    """Ann in New York, opted in to email and SMS; SMS through the console adapter, unpaced."""
    settings.SMS_SEND_RATE_PER_SECOND = 0
    settings.TWILIO_ACCOUNT_SID = ""  # console SMS adapter
    profile = ProfileFactory(email="ann@example.com", phone="+12125550123",
                             time_zone="America/New_York")  # fmt: skip
    for channel in ("email", "sms"):
        consent_record(profile=profile, channel=channel, action=ConsentAction.OPT_IN,
                       source=ConsentSource.SIGNUP_FORM)  # fmt: skip
    return profile
