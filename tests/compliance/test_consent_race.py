"""Deliveries of one consent change or one inbound text, in separate processes, at once.

The test holds a SHARE lock on the table the racers insert into, so every racer passes
its early checks and then waits at its INSERT; releasing the lock lets them collide on
the unique key for real.
"""

import subprocess
import sys

import pytest
from django.db import connection, transaction

from compliance.models import ConsentEvent, ConsentStatus, InboundSms, Subscription, Suppression
from tests.factories import ProfileFactory
from tests.postgres import require_postgres, wait_until_blocked, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 4
LEDGER = "compliance_consentevent"
CONSENT_RACER = """
import sys
import django

django.setup()
from compliance.services import consent_record
from profiles.models import Profile

profile_id, address, key = sys.argv[1:4]
profile = Profile.objects.get(pk=int(profile_id)) if profile_id != "-" else None
event = consent_record(
    profile=profile, channel="sms", action="opt_out", source="sms_keyword",
    address=address or None, evidence={"racer": True}, idempotency_key=key,
)
print(event.pk)
"""
INBOUND_RACER = """
import sys
import django

django.setup()
from compliance.sms_inbound import InboundText, inbound_sms_receive

sid, sender, body = sys.argv[1:4]
text = InboundText(message_sid=sid, from_number=sender, to_number="+14155550100", body=body)
inbound = inbound_sms_receive(text=text)
print(inbound.pk, inbound.outcome)
"""


@pytest.fixture(autouse=True)
def _postgres_only():
    require_postgres()


def _start_racers(script: str, *args: str) -> list[subprocess.Popen]:
    env = worker_env()
    command = [sys.executable, "-c", script, *args]
    return [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(RACERS)
    ]


def _wait_blocked(count: int) -> None:
    wait_until_blocked(count, "their INSERT")


def _race(table: str, script: str, *args: str) -> list[str]:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        racers = _start_racers(script, *args)
        _wait_blocked(RACERS)
    results = [racer.communicate(timeout=60) for racer in racers]
    failures = [
        err.decode() for racer, (_, err) in zip(racers, results, strict=True) if racer.returncode
    ]
    assert failures == []
    return [out.decode().strip() for out, _ in results]


def test_concurrent_deliveries_of_one_key_store_one_row_and_one_state():
    profile = ProfileFactory(phone="+14155550123")

    event_ids = _race(LEDGER, CONSENT_RACER, str(profile.pk), "", "twilio-inbound:SM-race-1")

    stored = ConsentEvent.objects.get(idempotency_key="twilio-inbound:SM-race-1")
    assert event_ids == [str(stored.pk)] * RACERS
    assert ConsentEvent.objects.count() == 1
    subscription = Subscription.objects.get(profile=profile, channel="sms")
    assert subscription.status == ConsentStatus.UNSUBSCRIBED
    assert subscription.last_event_id == stored.pk
    assert Suppression.objects.filter(address="+14155550123").count() == 1


def test_concurrent_deliveries_for_an_unknown_number_store_one_row_and_one_suppression():
    event_ids = _race(LEDGER, CONSENT_RACER, "-", "+14155550188", "twilio-inbound:SM-race-2")

    stored = ConsentEvent.objects.get(idempotency_key="twilio-inbound:SM-race-2")
    assert event_ids == [str(stored.pk)] * RACERS
    assert stored.profile_id is None
    assert ConsentEvent.objects.count() == 1
    assert Subscription.objects.count() == 0
    suppressions = Suppression.objects.filter(address="+14155550188", lifted_at__isnull=True)
    assert [s.reason for s in suppressions] == ["sms_stop"]


def test_concurrent_retries_of_one_inbound_stop_act_once_and_answer_alike():
    profile = ProfileFactory(phone="+14155550123")

    results = _race("compliance_inboundsms", INBOUND_RACER, "SM-race-3", "+14155550123", "STOP")

    inbound = InboundSms.objects.get()
    assert results == [f"{inbound.pk} opted out"] * RACERS
    assert ConsentEvent.objects.get().idempotency_key == "twilio-inbound:SM-race-3"
    assert Subscription.objects.get(profile=profile).status == ConsentStatus.UNSUBSCRIBED
    assert Suppression.objects.count() == 1
