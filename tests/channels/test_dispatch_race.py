"""Dispatch in separate processes at once, on PostgreSQL: no double send, caps hold.

The test holds the profile's row lock, starts the racers (each blocks on it inside
dispatch), waits until all of them wait, then lets them go. The provider is a recording
adapter that appends one line per send to a file.
"""

import subprocess
import sys

import pytest
from django.db import transaction

from channels.models import Message, MessageStatus
from channels.services import message_create
from compliance.models import ConsentAction, ConsentSource, FrequencyCap, Topic
from compliance.services import consent_record
from profiles.models import Profile
from tests.channels.factories import EmailTemplateFactory
from tests.factories import ProfileFactory
from tests.postgres import require_postgres, wait_until_blocked, worker_env

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

RACERS = 4
RACER = """
import sys
import django

django.setup()
from channels.models import Message
from channels.services import dispatch

message = dispatch(message=Message.objects.get(pk=int(sys.argv[1])))
print(message.status)
"""


@pytest.fixture(autouse=True)
def _postgres_only():
    require_postgres()


def _start(message_ids: list[int], record) -> list[subprocess.Popen]:
    env = worker_env(
        CHANNEL_ADAPTERS="email=tests.channels.recording_adapter.RecordingEmailAdapter",
        TANDEM_RECORD_FILE=str(record),
    )
    return [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(pk)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for pk in message_ids
    ]


def _race(profile: Profile, message_ids: list[int], record) -> list[str]:
    with transaction.atomic():
        Profile.objects.select_for_update().get(pk=profile.pk)
        racers = _start(message_ids, record)
        wait_until_blocked(len(message_ids), "the profile lock")
    results = [racer.communicate(timeout=60) for racer in racers]
    errors = [
        err.decode() for racer, (_, err) in zip(racers, results, strict=True) if racer.returncode
    ]
    assert errors == []
    return sorted(out.decode().strip() for out, _ in results)


@pytest.fixture
def subscriber():
    # Transactional tests start from an empty database: the migrations' rows are gone.
    Topic.objects.get_or_create(key="offers", defaults={"name": "Offers and sales"})
    FrequencyCap.objects.get_or_create(
        key="min-gap", defaults={"name": "Minimum gap", "kind": "gap", "min_gap_minutes": 60}
    )
    profile = ProfileFactory(email="ada@example.com")
    consent_record(
        profile=profile, channel="email", action=ConsentAction.OPT_IN, source=ConsentSource.ADMIN
    )
    return profile


def test_one_message_dispatched_by_four_processes_is_sent_once(subscriber, tmp_path):
    record = tmp_path / "sends.txt"
    message = message_create(
        profile=subscriber, template=EmailTemplateFactory(), idempotency_key="race-1"
    )

    statuses = _race(subscriber, [message.pk] * RACERS, record)

    # A loser re-reads the message before or after the winner records the provider's answer.
    assert set(statuses) <= {"sending", "sent"} and "sent" in statuses
    assert record.read_text().splitlines() == [str(message.pk)]
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.SENT, 1)


def test_two_messages_to_one_person_at_once_respect_the_minimum_gap(subscriber, tmp_path):
    record = tmp_path / "sends.txt"
    template = EmailTemplateFactory()
    first = message_create(profile=subscriber, template=template, idempotency_key="gap-1")
    second = message_create(profile=subscriber, template=template, idempotency_key="gap-2")

    statuses = _race(subscriber, [first.pk, second.pk], record)

    assert statuses == ["deferred", "sent"]
    assert len(record.read_text().splitlines()) == 1
    assert Message.objects.get(status=MessageStatus.DEFERRED).reason == "cap_min-gap"
