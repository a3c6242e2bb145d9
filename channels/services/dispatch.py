"""dispatch: decide, render, claim, send, record. The only way to a provider.

Inside one transaction, holding the profiles' row locks (the lock consent_record takes, so
a STOP and a send never interleave, and two sends to one person see each other for the
caps): re-read the messages, ask compliance, render, and claim them with one conditional
update from queued/deferred to sending. The provider calls happen after that commit, so
no transaction waits on the network; a redelivered task finds its message claimed and
sends nothing.

`dispatch_many` does this for a batch in a handful of queries: the facts, the caps and the
recent sends are read once for the batch, and each decision adds to the recent sends the
next message to the same person is decided against.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import CharField, ExpressionWrapper, F
from django.utils import timezone

from channels.models import Message, MessageStatus, MessageTemplate
from channels.models.outbox import WAITING
from channels.services.claim import Batch, Claims, claim
from channels.services.outbox import message_create, recent_sends_many
from channels.services.results import send_claimed_many
from channels.services.rows import (
    AnyOf,
    concrete_attnames,
    fast_timestamps,
    instances,
    phone_from_db,
    read_rows,
)
from compliance.decide import Decision, Outcome, RecentSend, decide
from compliance.facts import caps_active, facts_gather_many
from compliance.models import ContactPreference, Topic
from profiles.models import Event, Profile

TEST_SEND = "test"  # Message.source_kind of the admin's test sends
FINAL_BY_OUTCOME = {
    Outcome.SKIP: MessageStatus.SKIPPED,
    Outcome.SUPPRESS: MessageStatus.SUPPRESSED,
}


def dispatch(*, message: Message) -> Message:
    """Send the message if it is due and allowed; return it with its new status."""
    return dispatch_many(messages=[message])[0]


def dispatch_many(*, messages: Iterable[Message | int]) -> list[Message]:
    """dispatch for a batch (messages or ids); returns them as their rows now stand, in the
    order given."""
    ids = list(dict.fromkeys(m if isinstance(m, int) else m.pk for m in messages))
    if not ids:
        return []
    claimed, follow_ups, current = _decide_and_claim(ids, timezone.now())
    recorded = send_claimed_many(claimed)
    if follow_ups:
        dispatch_many(messages=follow_ups)
    # A message whose every change was written by a conditional update that won holds what
    # its row holds: only the others are read again.
    for message in claimed:
        if message.pk not in recorded:
            current.pop(message.pk, None)
    stale = [pk for pk in ids if pk not in current]
    found = {**current, **Message.objects.in_bulk(stale)} if stale else current
    return [found[pk] for pk in ids if pk in found]


def _decide_and_claim(
    ids: list[int], now: datetime
) -> tuple[list[Message], list[Message], dict[int, Message]]:
    """(the messages claimed, the switched twins to dispatch next, {id: message} for every
    locked message whose row holds exactly what the object holds)."""
    with transaction.atomic(), fast_timestamps():
        # Lock order everywhere: the profiles (by pk), then their messages.
        profiles = _locked_profiles(ids)
        locked = _locked_messages(ids, profiles)
        current = {m.pk: m for m in locked}
        if len(current) < len(ids):  # messages with no profile, or no message at all
            _skip_orphans([pk for pk in ids if pk not in current])
        messages = [m for m in locked if _is_due(m, now)]
        if not messages:
            return [], [], current
        batch = Batch(now=now, profiles=profiles, messages=messages)
        claims = Claims(batch)
        try:
            follow_ups = _decide_all(batch, claims)
            claimed = claim(batch, claims)
        except BaseException as error:
            claims.abandon(error)
            raise
        for message in batch.held + batch.allowed:
            if message.pk not in batch.stored:
                current.pop(message.pk, None)
        return claimed, follow_ups, current


def _locked_profiles(ids: list[int]) -> dict[int, Profile]:
    """The messages' profiles, row-locked in pk order, each with its ContactPreference (or
    None) cached as select_related("preference") would leave it."""
    db = connection.alias  # the connection read_rows reads through
    rows = read_rows("dispatch:profiles", _profiles_locking, ids)
    for index, row in enumerate(rows):
        rows[index] = (*row[:_PHONE], phone_from_db(row[_PHONE]), *row[_PHONE + 1 :])
    profiles = {p.pk: p for p in instances(Profile, rows, db=db)}
    rows = read_rows("dispatch:preferences", _preferences, list(profiles))
    found = {p.profile_id: p for p in instances(ContactPreference, rows, db=db)}
    cache = Profile.preference.related  # the reverse one-to-one, as select_related sets it
    for pk, profile in profiles.items():
        preference = found.get(pk)
        cache.set_cached_value(profile, preference)
        if preference is not None:
            cache.field.set_cached_value(preference, profile)
    return profiles


def _profiles_locking(message_ids):
    owners = Message.objects.filter(AnyOf(F("pk"), message_ids)).values("profile_id")
    # The phone column as its text (no PhoneNumberField conversion): phone_from_db below.
    columns = ["phone_text_" if name == "phone" else name for name in concrete_attnames(Profile)]
    return (
        Profile.objects.select_for_update(of=("self",))
        .filter(pk__in=owners)
        .order_by("pk")
        .annotate(phone_text_=ExpressionWrapper(F("phone"), output_field=CharField()))
        .values_list(*columns)
    )


_PHONE = concrete_attnames(Profile).index("phone")


def _preferences(profile_ids):
    return (
        ContactPreference.objects.filter(AnyOf(F("profile_id"), profile_ids))
        .order_by()
        .values_list(*concrete_attnames(ContactPreference))
    )


def _locked_messages(ids: list[int], profiles: dict[int, Profile]) -> list[Message]:
    if not profiles:
        return []
    rows = read_rows("dispatch:messages", _messages_locking, ids, list(profiles))
    messages = instances(Message, rows, db=connection.alias)
    templates = _rows_by_pk(MessageTemplate, {m.template_id for m in messages} - {None})
    _switch_templates(templates.values())
    _attach(messages, "template", templates)
    _attach(messages, "topic", _rows_by_pk(Topic, {m.topic_id for m in messages} - {None}))
    events = _rows_by_pk(Event, {m.trigger_event_id for m in messages} - {None})
    _attach(messages, "trigger_event", events)
    for message in messages:
        message.profile = profiles[message.profile_id]
    return messages


def _messages_locking(message_ids, profile_ids):
    return (
        Message.objects.select_for_update()
        .filter(AnyOf(F("pk"), message_ids), AnyOf(F("profile_id"), profile_ids))
        .order_by("pk")
        .values_list(*concrete_attnames(Message))
    )


def _rows_by_pk(model, pks: set[int]) -> dict:
    """{pk: instance} of the rows with these pks, read as `instances` (no ORDER BY: the Meta
    orderings cost Django more to compile than the rows to read)."""
    if not pks:
        return {}
    rows = read_rows(f"dispatch:{model._meta.label}", _by_pk(model), list(pks))
    return {obj.pk: obj for obj in instances(model, rows, db=connection.alias)}


def _by_pk(model):
    return lambda pks: (
        model.objects.filter(AnyOf(F("pk"), pks)).order_by().values_list(*concrete_attnames(model))
    )


def _switch_templates(templates) -> None:
    """Each template's switch twin cached on it, as select_related("switch_template") leaves
    it (read only when a template has one)."""
    twins = _rows_by_pk(MessageTemplate, {t.switch_template_id for t in templates} - {None})
    field = MessageTemplate._meta.get_field("switch_template")
    for template in templates:
        field.set_cached_value(template, twins.get(template.switch_template_id))


def _attach(messages: list[Message], name: str, rows: dict) -> None:
    """Each message's related row, read once for the batch (a template's HTML would
    otherwise come back with every message)."""
    attname = f"{name}_id"
    for message in messages:
        if getattr(message, attname) is not None:
            setattr(message, name, rows[getattr(message, attname)])


def _skip_orphans(pks: list[int]) -> None:
    if pks:
        Message.objects.filter(pk__in=pks, profile__isnull=True, status__in=WAITING).update(
            status=MessageStatus.SKIPPED, reason="no_profile"
        )


def _is_due(message: Message, now: datetime) -> bool:
    if message.status not in WAITING:
        return False
    return message.scheduled_for is None or message.scheduled_for <= now


def _decide_all(batch: Batch, claims: Claims) -> list[Message]:
    """Decide each message in order; an allowed one counts against the next to that person.
    `claims` sends the allowed ones' claim as they accumulate (channels.services.claim)."""
    facts = _facts(batch)
    caps = caps_active()
    # A test send is the operator's explicit "send this now": the fatigue caps do not hold
    # it, the state law limit (FL/OK/MD) does, like consent, suppression, pause, quiet hours.
    legal_caps = tuple(cap for cap in caps if cap.kind == "state_sms")
    sends = recent_sends_many(
        profile_ids=list(batch.profiles), at=batch.now, exclude=[m.pk for m in batch.messages]
    )
    follow_ups = []
    for message in batch.messages:
        if message.expires_at and batch.now >= message.expires_at:
            batch.finish(message, MessageStatus.SKIPPED, "expired")
            continue
        mine = sends.setdefault(message.profile_id, [])
        decision = decide(
            profile=message.profile,
            channel=message.channel,
            category=message.category,
            topic=message.topic.key if message.topic_id else None,
            at=batch.now,
            recent_sends=mine,
            facts=facts[message.topic_id][message.profile_id],
            caps=legal_caps if message.source_kind == TEST_SEND else caps,
        )
        if decision.outcome == Outcome.SWITCH:
            claims.settle()  # the switch twin is a statement of its own
            follow_ups += filter(None, [_switch(batch, message, decision)])
        elif not decision.allowed:
            _hold(batch, message, decision)
        elif batch.render(message):
            mine.append(
                RecentSend(at=batch.now, channel=message.channel, category=message.category)
            )
            claims.rendered()
    return follow_ups


def _facts(batch: Batch) -> dict:
    """{topic id: {profile id: Facts}}: one facts read per topic in the batch (usually one)."""
    by_topic: dict = {}
    for message in batch.messages:
        by_topic.setdefault(message.topic_id, (message.topic, {}))[1][message.profile_id] = (
            message.profile
        )
    cache = Profile.preference.related
    preferences = {
        pk: cache.get_cached_value(profile)
        for pk, profile in batch.profiles.items()
        if cache.is_cached(profile)
    }
    return {
        topic_id: facts_gather_many(
            profiles=profiles.values(),
            topics=dict.fromkeys(profiles, topic),
            preferences=preferences,
        )
        for topic_id, (topic, profiles) in by_topic.items()
    }


def _hold(batch: Batch, message: Message, decision: Decision) -> None:
    if decision.outcome != Outcome.DEFER:
        batch.finish(message, FINAL_BY_OUTCOME[decision.outcome], decision.reason)
        return
    until = decision.until or batch.now + timedelta(minutes=5)
    if message.expires_at and until >= message.expires_at:
        batch.finish(message, MessageStatus.SKIPPED, f"expired_while_deferred:{decision.reason}")
        return
    # decide already spreads quiet-hour releases over the first minutes of the window.
    batch.defer(message, until, decision.reason)


def _switch(batch: Batch, message: Message, decision: Decision) -> Message | None:
    """A cap moved the message to the other channel: the template's switch twin, once."""
    twin = message.template.switch_template if message.template_id else None
    if twin is None or message.switched_from_id is not None:
        batch.finish(message, MessageStatus.SKIPPED, f"{decision.reason}:no_switch_template")
        return None
    batch.finish(message, MessageStatus.CANCELLED, f"switched_to_{decision.channel}")
    return message_create(
        profile=message.profile,
        template=twin,
        idempotency_key=f"{message.idempotency_key}:switch",
        context=message.context,
        trigger_event=message.trigger_event,
        expires_at=message.expires_at,
        source_kind=message.source_kind,
        source_id=message.source_id,
        source_step=message.source_step,
        switched_from=message,
    )
