"""Putting messages in the outbox, and reading what was recently sent to a person."""

import json
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from django.db import IntegrityError, connection
from django.db.models import F, JSONField
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from channels.models import Message, MessageStatus, MessageTemplate
from compliance.decide import RecentSend
from compliance.models import Topic
from compliance.reads import AnyOf
from profiles.models import Event, Profile

# Sends that count against caps: on their way or gone (unknown may have gone).
COUNTED = (
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNKNOWN,
)
RECENT_WINDOW = timedelta(days=7)


def message_create(
    *,
    profile: Profile,
    idempotency_key: str,
    template: MessageTemplate | None = None,
    channel: str = "",
    category: str = "",
    topic: Topic | None = None,
    context: dict[str, Any] | None = None,
    trigger_event: Event | None = None,
    scheduled_for: datetime | None = None,
    expires_at: datetime | None = None,
    source_kind: str = "",
    source_id: int | None = None,
    source_step: int | None = None,
    content: dict[str, str] | None = None,
    switched_from: Message | None = None,
) -> Message:
    """Queue one message; the same idempotency key returns the message already queued.

    Give a template (rendered at dispatch) or ready `content` (subject, body_text,
    body_html) with a channel and category, as system notices do.
    """
    request = {
        "profile": profile, "idempotency_key": idempotency_key, "template": template,
        "channel": channel, "category": category, "topic": topic, "context": context,
        "trigger_event": trigger_event, "scheduled_for": scheduled_for,
        "expires_at": expires_at, "source_kind": source_kind, "source_id": source_id,
        "source_step": source_step, "content": content, "switched_from": switched_from,
    }  # fmt: skip
    return message_create_many(requests=[request])[idempotency_key]


def message_create_many(*, requests: list[dict[str, Any]]) -> dict[str, Message]:
    """message_create for many messages in two statements: {idempotency key: message}.

    Each request holds message_create's keywords. Rows are inserted with ON CONFLICT DO
    NOTHING (the idempotency key is Message's only unique column), then read back by key, so
    a key queued before or concurrently gives the message already there, never a second one.
    """
    if not requests:
        return {}
    messages = _build_requests(requests)
    if connection.vendor == "postgresql":
        found = _insert_postgres(messages)
    else:
        Message.objects.bulk_create(messages, ignore_conflicts=True)
        found = {}
    keys = [message.idempotency_key for message in messages]
    if earlier := [key for key in keys if key not in found]:
        found.update(Message.objects.in_bulk(earlier, field_name="idempotency_key"))
    if missing := set(keys) - set(found):
        raise IntegrityError(f"messages not queued: {sorted(missing)[:5]}")
    return found


def _alike(field, raw: list) -> bool:
    """Every message holds the same value, in a way the column keeps: in JSON, 1, 1.0 and
    True are equal in Python but stored (and rendered) differently. One object in every
    message (copied from one prototype) and empty JSON objects (a fresh default each) are
    seen without a comparison or a dumps per value."""
    first = raw[0]
    if all(value is first for value in raw):
        return True
    if isinstance(field, JSONField):
        if type(first) is dict and not first:
            return all(type(value) is dict and not value for value in raw)
        first = json.dumps(raw[0], cls=field.encoder, sort_keys=True)
        return all(json.dumps(v, cls=field.encoder, sort_keys=True) == first for v in raw)
    return all(value == raw[0] and type(value) is type(raw[0]) for value in raw)


def _insert_postgres(messages: list[Message]) -> dict[str, Message]:
    """INSERT ... SELECT FROM unnest(...) ON CONFLICT (idempotency_key) DO NOTHING, where a
    column alike in every message is one parameter and each other column one array (a
    text literal of ints, short strings or times, else binary: bulk.array_param), bound
    on the server: a fraction of the per-value work of bulk_create's VALUES rows. Returns
    the inserted ones by key (the others were there before)."""
    from channels.services.bulk import array_param, server_bound_cursor

    columns, selects, arrays, params = [], [], [], []
    fields = [field for field in Message._meta.concrete_fields if not field.primary_key]
    # Every message's values at once, a column each: one attrgetter call a message and the
    # transposition in C, not a getattr a value from Python (~3% of a journey tick's CPU).
    read = attrgetter(*(field.attname for field in fields))
    for field, raw in zip(fields, zip(*map(read, messages), strict=True), strict=True):
        raw = list(raw)
        columns.append(connection.ops.quote_name(field.column))
        if field.name != "idempotency_key" and _alike(field, raw):
            selects.append(f"%s::{field.db_type(connection)}")
            value = field.pre_save(messages[0], True)  # auto_now: one time for the batch
            if value is not raw[0]:  # else each holds it already (or an equal value)
                for message in messages:
                    setattr(message, field.attname, value)
            params.append(field.get_db_prep_save(value, connection))
        else:
            values = [field.pre_save(message, True) for message in messages]
            slot, cast, param = array_param(field, values)
            selects.append(f"v.c{len(arrays)}{cast}")
            arrays.append((slot, param))
    unnest = ", ".join(slot for slot, _ in arrays)
    names = ", ".join(f"c{i}" for i in range(len(arrays)))
    sql = (
        f"INSERT INTO {Message._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(selects)} FROM unnest({unnest}) AS v({names}) "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key"
    )
    with server_bound_cursor() as cursor:
        # The SELECT list comes first in the statement, then the arrays.
        cursor.execute(sql, [*params, *(param for _, param in arrays)])
        inserted = {key: pk for pk, key in cursor.fetchall()}
    found, alias = {}, connection.alias  # the proxy's lookup once, not per message
    for message in messages:
        if message.idempotency_key in inserted and message.idempotency_key not in found:
            message.pk = inserted[message.idempotency_key]
            message._state.adding, message._state.db = False, alias
            found[message.idempotency_key] = message
    return found


def _build_requests(requests: list[dict[str, Any]]) -> list[Message]:
    """_build_request for each request. Requests without ready content that share a
    template, channel, category and topic (a journey batch's sends) are copies of one
    message built by Model.__init__, each given its own fields: __init__'s per-field work
    (the defaults, a uuid4 for the idempotency key it then replaces, a descriptor per
    foreign key) was ~30 us a message, a sixth of a journey tick's CPU."""
    if pre_init.has_listeners(Message) or post_init.has_listeners(Message):
        return [_build_request(**request) for request in requests]
    shapes: dict[tuple, Message] = {}
    built, fresh = [], _fresh_defaults()
    for request in requests:
        if request.get("content"):
            built.append(_build_request(**request))
            continue
        shape = tuple(id(request.get(name)) for name in _SHAPE)
        if (prototype := shapes.get(shape)) is None:
            given = {name: request[name] for name in _SHAPE if name in request}
            prototype = shapes[shape] = _build_request(profile=None, idempotency_key="", **given)
        message = _copy(prototype, fresh)
        _fill(message, **request)
        built.append(message)
    return built


# The keywords that make a message's shape; the others are filled in per message.
_SHAPE = ("template", "channel", "category", "topic")


def _fresh_defaults() -> list[tuple[str, Any]]:
    """(attname, callable default) of the fields whose default each message must call
    again: a mutable one (dict, list) must not be shared; the idempotency key is given."""
    return [
        (field.attname, field.default)
        for field in Message._meta.concrete_fields
        if field.has_default() and callable(field.default)
        and field.name not in ("idempotency_key", "context")
    ]  # fmt: skip


def _copy(prototype: Message, fresh: list[tuple[str, Any]]) -> Message:
    message = object.__new__(Message)
    message.__dict__.update(prototype.__dict__)
    state = message._state = ModelState()
    state.fields_cache = dict(prototype._state.fields_cache)
    for attname, default in fresh:
        message.__dict__[attname] = default()
    return message


def _fill(
    message: Message, *, profile: Profile, idempotency_key: str, context=None, **passed: Any
) -> None:
    """A copied message's own fields (the others are its shape, checked when the first of
    that shape was built)."""
    if unknown := set(passed) - set(PASSED_THROUGH) - set(_SHAPE) - {"content"}:
        raise TypeError(f"unknown message keywords: {sorted(unknown)}")
    message.__dict__["profile_id"] = profile.pk if profile is not None else None
    message._state.fields_cache["profile"] = profile
    message.idempotency_key = idempotency_key
    message.context = context or {}
    for name in passed.keys() & PASSED_THROUGH.keys():
        setattr(message, name, passed[name])


# message_create's keywords that go onto the message as they are, with their defaults.
PASSED_THROUGH = {
    "trigger_event": None,
    "scheduled_for": None,
    "expires_at": None,
    "source_kind": "",
    "source_id": None,
    "source_step": None,
    "switched_from": None,
}


def _build_request(
    *,
    profile: Profile,
    idempotency_key: str,
    template: MessageTemplate | None = None,
    channel: str = "",
    category: str = "",
    topic: Topic | None = None,
    content: dict[str, str] | None = None,
    context: dict[str, Any] | None = None,
    **passed: Any,
) -> Message:
    """The unsaved message for message_create's keywords (one request of the many)."""
    if unknown := set(passed) - set(PASSED_THROUGH):
        raise TypeError(f"unknown message keywords: {sorted(unknown)}")
    message = _build(profile=profile, template=template, channel=channel, category=category,
                     topic=topic, content=content)  # fmt: skip
    message.idempotency_key = idempotency_key
    message.context = context or {}
    for name, default in PASSED_THROUGH.items():
        setattr(message, name, passed.get(name, default))
    return message


def _build(*, profile, template, channel, category, topic, content) -> Message:
    if template is None and not content:
        raise ValueError("a message needs a template or ready content")
    if template is not None:
        channel = template.channel
        category = category or template.category
        topic = topic or template.topic
    if not channel or not category:
        raise ValueError("a message without a template needs a channel and a category")
    if template is None and category != "transactional":
        # Marketing needs the footer, headers and STOP text only a template render adds.
        raise ValueError("ready content may only be sent as a transactional message")
    message = Message(
        profile=profile, channel=channel, template=template, category=category, topic=topic
    )
    if content:
        message.subject = content.get("subject", "")
        message.body_text = content.get("body_text", "")
        message.body_html = content.get("body_html", "")
        message.rendered_at = timezone.now()
    return message


def recent_sends(*, profile: Profile, at: datetime, exclude: int | None = None) -> list[RecentSend]:
    """Marketing and transactional messages sent or sending to the person in the last 7 days."""
    rows = (
        Message.objects.filter(
            profile=profile,
            status__in=COUNTED,
            sending_started_at__gt=at - RECENT_WINDOW,
        )
        .exclude(pk=exclude)
        .order_by()
        .values_list("sending_started_at", "channel", "category")
    )
    return [
        RecentSend(at=when, channel=channel, category=category) for when, channel, category in rows
    ]


def recent_sends_many(
    *, profile_ids: list[int], at: datetime, exclude: list[int] = ()
) -> dict[int, list[RecentSend]]:
    """recent_sends for many people in one query: {profile id: sends} (absent: none)."""
    rows = (
        Message.objects.filter(
            AnyOf(F("profile_id"), list(profile_ids)),
            status__in=COUNTED,
            sending_started_at__gt=at - RECENT_WINDOW,
        )
        .exclude(AnyOf(F("pk"), list(exclude)))
        .order_by()
        .values_list("profile_id", "sending_started_at", "channel", "category")
    )
    sends: dict[int, list[RecentSend]] = {}
    for profile_id, when, channel, category in rows:
        sends.setdefault(profile_id, []).append(
            RecentSend(at=when, channel=channel, category=category)
        )
    return sends
