"""facts_gather_many: the batch dispatch's facts, equal to facts_gather's one profile at a time."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.facts import facts_gather, facts_gather_many
from compliance.models import (
    ConsentAction,
    ConsentSource,
    ContactPreference,
    InboundSms,
    KeywordReview,
    SuppressionReason,
    Topic,
)
from compliance.services import consent_record, suppression_add
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def _opt(profile, channel, action, source=ConsentSource.ADMIN, topic=None):
    consent_record(profile=profile, channel=channel, action=action, source=source, topic=topic)


def _subscribed(**fields):
    profile = ProfileFactory(**fields)
    for channel in ("email", "sms"):
        if profile_address(profile, channel):
            _opt(profile, channel, ConsentAction.OPT_IN)
    return profile


def profile_address(profile, channel):
    return profile.email if channel == "email" else profile.phone


def _review(profile, sid):
    inbound = InboundSms.objects.create(message_sid=sid, from_number=str(profile.phone), body="hm")
    return KeywordReview.objects.create(address=str(profile.phone), inbound=inbound)


def _population(offers, news):
    people = [
        ProfileFactory(),  # never asked
        ProfileFactory(phone=None),  # no number
        ProfileFactory(email=None),  # no email
        _subscribed(),
        _subscribed(),
        _subscribed(),
        _subscribed(),
        _subscribed(),
        _subscribed(),
        _subscribed(),
        _subscribed(),
    ]
    _opt(people[3], "email", ConsentAction.OPT_OUT, ConsentSource.PREFERENCE_CENTRE, offers)
    _opt(people[4], "sms", ConsentAction.OPT_OUT, ConsentSource.SMS_KEYWORD)  # STOP
    _opt(people[5], "email", ConsentAction.OPT_OUT, ConsentSource.ONE_CLICK)
    pending = ProfileFactory()
    _opt(pending, "email", ConsentAction.PENDING, ConsentSource.SIGNUP_FORM)
    people.append(pending)
    for reason, person in zip(
        [SuppressionReason.HARD_BOUNCE, SuppressionReason.COMPLAINT, SuppressionReason.ERASURE],
        people[6:9],
        strict=True,
    ):
        suppression_add(address=person.email, channel="email", reason=reason, source="admin")
    suppression_add(address=str(people[6].phone), channel="sms", reason="invalid_address",
                    source="bounce")  # fmt: skip
    for person in people[5], people[7]:  # alone, and beside a complaint
        suppression_add(address=person.email, channel="email", reason="unsubscribed",
                        source="admin")  # fmt: skip
    _review(people[9], "SM1")
    dismissed = _review(people[6], "SM2")
    dismissed.status = "dismissed"
    dismissed.save()
    ContactPreference.objects.create(
        profile=people[10], paused_until=NOW + timedelta(days=3), primary_channel="sms"
    )
    ContactPreference.objects.create(profile=people[3], primary_channel="email")
    _opt(people[10], "sms", ConsentAction.OPT_IN, topic=news)
    return people


def test_facts_gather_many_agrees_with_facts_gather_for_every_person_and_topic():
    offers = Topic.objects.get(key="offers")
    news, _ = Topic.objects.get_or_create(
        key="news", defaults={"name": "News", "is_default": False}
    )
    people = _population(offers, news)

    seen = []
    for topic in (None, offers, news):
        many = facts_gather_many(profiles=people, topics={p.pk: topic for p in people})
        for person in people:
            assert many[person.pk] == facts_gather(profile=person, topic=topic), (person, topic)
        seen += [f for facts in many.values() for f in facts.channels.values()]

    # The population covers every state the facts can take.
    assert {f.status for f in seen} == {"subscribed", "unsubscribed", "pending", "never"}
    assert {f.suppression for f in seen} == {
        "",
        "hard_bounce",
        "complaint",
        "erasure",
        "invalid_address",
        "sms_stop",
        "unsubscribed",
    }
    assert {f.review_pending for f in seen} == {True, False}


def test_facts_gather_many_mixes_topics_per_person():
    offers = Topic.objects.get(key="offers")
    news, _ = Topic.objects.get_or_create(
        key="news", defaults={"name": "News", "is_default": False}
    )
    people = _population(offers, news)
    topics = {person.pk: (offers, news, None)[i % 3] for i, person in enumerate(people)}

    many = facts_gather_many(profiles=people, topics=topics)

    assert {pk: many[pk] for pk in topics} == {
        p.pk: facts_gather(profile=p, topic=topics[p.pk]) for p in people
    }


def test_facts_gather_many_reads_a_batch_in_four_queries():
    offers = Topic.objects.get(key="offers")
    news, _ = Topic.objects.get_or_create(key="news", defaults={"name": "News"})
    people = _population(offers, news)

    with CaptureQueriesContext(connection) as queries:
        facts_gather_many(profiles=people, topics={p.pk: offers for p in people})

    assert len(queries) == 4
