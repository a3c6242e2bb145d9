"""Accept now, apply in batches: Twilio status callbacks through a Redis list.

At hundreds of callbacks a second, applying each one inside its request costs a database
round trip, a commit and the message row's index updates per request. With
`TWILIO_STATUS_QUEUE` on (it needs `REDIS_URL`), the view verifies the signature, appends
the callback's four fields to a Redis list and answers 204; `drain` applies what the list
holds in batches, one statement a batch on PostgreSQL, with the same rules as the
synchronous path: stored once per (MessageSid, MessageStatus), and a message only moves up
the delivery ladder.

Who drains: the request that finds the list empty queues a django-q2 task (so a burst
queues one task, not one per callback), and the `channels.webhooks-drain` schedule runs
every minute in case a task was lost. One drainer at a time (a Redis lock): it reads a
batch, applies it and only then trims it from the list, so a drainer killed mid-batch
leaves the batch for the next one, which applies it again harmlessly (both rules above
make a replay change nothing).

Callbacks that prove something about the address (21610 carrier opt-out, 21211 invalid
number, ...) never take this path: the view applies them at once, with their consent and
alert side effects, before it answers.

Durability: a callback is Twilio's to retry until we answer 2xx; after that it lives in
Redis until applied. Run Redis with append-only persistence (`appendonly yes`) where a
Redis restart must not lose the callbacks accepted in the last seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime
from functools import cache

from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

KEY = "tandem:webhooks:twilio-status"
FAILED = "tandem:webhooks:twilio-status:failed"  # callbacks that could not be applied
LOCK = "tandem:webhooks:twilio-status:drain"
LOCK_SECONDS = 60  # longer than a batch takes; renewed every batch
BATCH = 1000
# A task the burst queued keeps draining until the list has been empty this long, so a
# steady stream is applied by one task in batches rather than by a task every few callbacks.
LINGER = 2.0
GATHER = 0.05  # after a part batch, wait this long for more (the added delay at most)


def enabled() -> bool:
    return bool(getattr(settings, "TWILIO_STATUS_QUEUE", False) and settings.REDIS_URL)


def _redis():
    return _client(settings.REDIS_URL)


@cache
def _client(url: str):
    import redis

    # Bounded waits: a Redis that hangs must not hold a webhook request (the view then
    # applies the callback itself) or a drainer (the next one takes over).
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def accept(*, sid: str, status: str, error_code: str, error_text: str) -> None:
    """Append one verified callback to the list. The first in an empty list, with no drainer
    at work, queues a drain task: one task a burst, not one a callback."""
    item = json.dumps([sid, status, error_code, error_text[:5000], time.time()])
    if _push(settings.REDIS_URL, item):
        _queue_drain()


# RPUSH, then 1 if the list was empty and nobody holds the drain lock. A drainer holding the
# lock either reads this callback or, having let the lock go, sees it in its last look.
_PUSH = (
    "if redis.call('rpush', KEYS[1], ARGV[1]) == 1 and redis.call('exists', KEYS[2]) == 0 "
    "then return 1 end return 0"
)
_pushers = threading.local()


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


# EVAL <script> 2 <list> <lock> <item>, in RESP with all but the item encoded once.
_PUSH_HEAD = b"*6\r\n" + b"".join(_bulk(arg.encode()) for arg in ("EVAL", _PUSH, "2", KEY, LOCK))


def _push(url: str, item: str) -> int:
    """Run the push script on this thread's own connection: one round trip, ~50 us of CPU
    instead of ~170 through the client's command path (retry wrapper, pool checkout and
    return, response callbacks), which is most of what a queued callback costs after the
    signature. EVAL, not EVALSHA: nothing to reload after a Redis restart. A connection
    that fails is dropped and the push tried once on a new one; a second failure raises, and
    the view applies the callback itself."""
    for attempt in (1, 2):
        conn = getattr(_pushers, url, None)
        if conn is None:
            conn = _client(url).connection_pool.make_connection()
            setattr(_pushers, url, conn)
        try:
            conn.send_packed_command([_PUSH_HEAD + _bulk(item.encode())])
            return conn.read_response()
        except Exception:
            conn.disconnect()
            delattr(_pushers, url)
            if attempt == 2:
                raise
    return 0  # not reached


def _queue_drain() -> None:
    from django_q.tasks import async_task

    try:
        async_task("channels.webhooks.inbox.drain", linger=LINGER, task_name="webhooks-drain")
    except Exception:  # the schedule drains within a minute; the callback is safe in the list
        logger.exception("could not queue the webhook drain task")


def pending() -> int:
    return _redis().llen(KEY) if enabled() else 0


def drain(*, batch: int = BATCH, budget: float = 50.0, linger: float = 0.0) -> int:
    """Apply queued callbacks until the list has been empty for `linger` seconds (if it
    held any at the start) or the budget is spent; the count.

    Only the lock's holder drains. After letting the lock go it looks once more: a callback
    that arrived as it finished (its request saw a non-empty list, or its task found the
    lock taken) is applied now rather than at the next schedule.
    """
    if not settings.REDIS_URL:
        return 0
    client, applied, started = _redis(), 0, time.monotonic()
    linger = linger if client.llen(KEY) else 0.0  # a task with nothing to do ends at once
    while time.monotonic() - started < budget:
        token = uuid.uuid4().hex
        if not client.set(LOCK, token, nx=True, ex=LOCK_SECONDS):
            return applied
        try:
            idle_since = None
            while time.monotonic() - started < budget:
                raw = client.lrange(KEY, 0, batch - 1)
                if not raw:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= linger:
                        break
                    time.sleep(0.05)
                    continue
                idle_since = None
                _apply_or_set_aside(client, [json.loads(item) for item in raw])
                if not _trim_if_ours(client, token, len(raw)):
                    return applied  # the lock expired and another drainer has the list
                applied += len(raw)
                if len(raw) < batch:
                    time.sleep(GATHER)  # let a trickle gather: fewer, fuller batches
        finally:
            _release(client, token)
        if not client.llen(KEY):
            break
    else:  # out of time with callbacks left: a fresh task carries on
        if client.llen(KEY):
            _queue_drain()
    return applied


def _apply_or_set_aside(client, items: list) -> None:
    """Apply a batch; if it fails, one by one, and set aside (logged, kept in the FAILED list)
    those that fail alone. If the database does not answer, raise: the batch stays queued
    for the next drain."""
    try:
        apply_many(items)
        return
    except Exception:
        logger.exception("applying %s queued status callbacks at once failed", len(items))
    failed = []
    for item in items:
        try:
            apply_many([item])
        except Exception:
            logger.exception("queued status callback %s could not be applied", item[:2])
            failed.append(item)
    if len(failed) == len(items) and not _database_answers():
        raise RuntimeError("the database is not answering; the callbacks stay queued")
    if failed:
        client.rpush(FAILED, *(json.dumps(item) for item in failed))


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _trim_if_ours(client, token: str, count: int) -> bool:
    """Trim the applied batch and renew the lock, both only if the lock is still ours: a
    drainer whose lock expired leaves the list to the one holding it now."""
    return bool(
        client.eval(
            "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end "
            "redis.call('ltrim', KEYS[2], tonumber(ARGV[2]), -1) "
            "redis.call('expire', KEYS[1], tonumber(ARGV[3])) return 1",
            2,
            LOCK,
            KEY,
            token,
            count,
            LOCK_SECONDS,
        )  # fmt: skip
    )


def _release(client, token: str) -> None:
    """Delete the lock only if it is still ours (it may have expired and been taken)."""
    client.eval(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end",
        1,
        LOCK,
        token,
    )


def apply_many(items: list) -> int:
    """Apply [sid, status, error_code, error_text, accepted_at] callbacks; how many were new.

    On PostgreSQL one statement for the batch; elsewhere one callback at a time through the
    synchronous path.
    """
    from channels.webhooks.twilio import status_callback_apply

    if connection.vendor != "postgresql":
        return sum(
            status_callback_apply(
                sid=sid, status=status, error_code=code, error_text=text, at=_at(at)
            )  # fmt: skip
            for sid, status, code, text, at in items
        )
    return _apply_set(items)


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.get_current_timezone())


def _apply_set(items: list) -> int:
    """The batch in one statement: store the new (MessageSid, MessageStatus) pairs, then move
    each message to the highest-ranked status stored for it (the first received of equal
    rank), if that is above its own: what applying them one by one in order would do."""
    from channels.services.bulk import server_bound_cursor
    from channels.webhooks.twilio import TWILIO_STATUSES

    seen, rows = set(), []
    for sid, status, code, text, at in items:
        if (sid, status) not in seen:
            seen.add((sid, status))
            rows.append((sid, status, code, text, _at(at)))
    columns = list(zip(*rows, strict=True))
    params = {
        "sid": list(columns[0]),
        "status": list(columns[1]),
        "code": list(columns[2]),
        "text": list(columns[3]),
        "at": list(columns[4]),
        "ord": list(range(len(rows))),
        "twilio": list(TWILIO_STATUSES),
        "ours": [str(s) for s in TWILIO_STATUSES.values()],
    }
    with server_bound_cursor() as cursor:
        cursor.execute(_set_sql(), params)
        (stored,) = cursor.fetchone()
    return stored


@cache
def _set_sql() -> str:
    from channels.models import Message, ProviderEvent
    from channels.models.outbox import STATUS_RANK
    from channels.services.tracking import STAMPS

    message, event = Message._meta.db_table, ProviderEvent._meta.db_table
    ranks = ", ".join(f"('{status}', {rank})" for status, rank in STATUS_RANK.items())
    stamps = ", ".join(
        f"{column} = CASE WHEN b.ours = '{status}' THEN b.at ELSE m.{column} END"
        for status, column in STAMPS.items()
    )
    # A data-modifying CTE runs to completion whether or not the final SELECT reads it.
    return f"""
        WITH input AS (
            SELECT * FROM unnest(%(sid)s::text[], %(status)s::text[], %(code)s::text[],
                                 %(text)s::text[], %(at)s::timestamptz[], %(ord)s::int[])
                AS t(sid, status, code, text, at, ord)
        ), ladder AS (
            SELECT * FROM (VALUES {ranks}) AS r(status, rank)
        ), mapped AS (
            SELECT * FROM unnest(%(twilio)s::text[], %(ours)s::text[]) AS s(twilio, ours)
        ), found AS (
            SELECT i.sid, (
                SELECT id FROM {message}
                WHERE provider_message_id = i.sid AND channel = 'sms' LIMIT 1
            ) AS id
            FROM (SELECT DISTINCT sid FROM input) AS i
        ), event AS (
            INSERT INTO {event} (provider, key, message_id, kind, received_at)
            SELECT 'twilio', i.sid || ':' || i.status, f.id, i.status, i.at
            FROM input AS i JOIN found AS f ON f.sid = i.sid
            ON CONFLICT DO NOTHING
            RETURNING key, message_id
        ), best AS (
            SELECT DISTINCT ON (e.message_id) e.message_id, i.status, i.code, i.text, i.at,
                   s.ours, l.rank
            FROM event AS e
            JOIN input AS i ON i.sid || ':' || i.status = e.key
            JOIN mapped AS s ON s.twilio = i.status
            JOIN ladder AS l ON l.status = s.ours
            WHERE e.message_id IS NOT NULL
            ORDER BY e.message_id, l.rank DESC, i.ord
        ), moved AS (
            UPDATE {message} AS m SET
                status = b.ours,
                provider_status = b.status,
                provider_error_code = CASE WHEN b.code <> '' OR b.text <> ''
                                           THEN b.code ELSE m.provider_error_code END,
                provider_error_text = CASE WHEN b.code <> '' OR b.text <> ''
                                           THEN b.text ELSE m.provider_error_text END,
                {stamps}
            FROM best AS b, ladder AS current
            WHERE m.id = b.message_id AND current.status = m.status AND current.rank < b.rank
            RETURNING m.id
        )
        SELECT count(*) FROM event
    """
