"""Consent from imports, set-based: the rules of consent_record, for thousands of rows at once.

Same rules as compliance.services.consent_record with source=import: an opt-in never lifts
an address suppression or the person's own opt-out (the ledger row says so, applied=False);
an opt-out always applies; a change older than the current state does not replace it. Rows
that would change nothing write nothing, so a re-import leaves the ledger as it was. The
import's idempotency keys make a resumed batch record nothing twice.
"""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from compliance.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Subscription,
    Suppression,
    SuppressionReason,
)
from profiles.imports.consent import ConsentOutcome, ConsentRequest
from profiles.imports.store import staged
from profiles.imports.widgets import CLEANED, OPT_IN, OPT_OUT, is_mobile
from profiles.models import Profile

STATUS_FOR = {OPT_IN: ConsentStatus.SUBSCRIBED, OPT_OUT: ConsentStatus.UNSUBSCRIBED}
ACTION_FOR = {OPT_IN: ConsentAction.OPT_IN, OPT_OUT: ConsentAction.OPT_OUT}


def consent_import_many(
    *, requests: list[ConsentRequest], dry_run: bool = False
) -> list[ConsentOutcome]:
    """Judge and record many import consent requests; one outcome per request, in order."""
    with transaction.atomic():
        _lock_profiles(r.profile_id for r in requests)
        known = set(
            ConsentEvent.objects.filter(
                idempotency_key__in=[r.idempotency_key for r in requests]
            ).values_list("idempotency_key", flat=True)
        )
        state = _State(requests)
        outcomes = [_judge(r, state, known) for r in requests]
        if not dry_run:
            _record(requests, outcomes, state)
    return [outcome for outcome, _ in outcomes]


def _lock_profiles(ids: Iterable[int | None]) -> None:
    # Serialises with consent_record (which locks the profile): a STOP and an import of
    # the same person never interleave. Primary-key order avoids deadlocks.
    wanted = sorted({pk for pk in ids if pk})
    if not connection.features.has_select_for_update:
        return  # SQLite: the write transaction itself is exclusive
    list(Profile.objects.select_for_update().filter(pk__in=wanted).order_by("pk").values("pk"))


class _Subscription(NamedTuple):
    status: str
    source: str
    updated_at: datetime


class _State:
    """Active suppressions and channel-level subscriptions of everyone in the batch."""

    def __init__(self, requests: list[ConsentRequest]):
        addresses = {r.address for r in requests}
        self.suppressions: dict[tuple[str, str], str] = {}
        for address, channel, reason in Suppression.objects.filter(
            address__in=addresses, lifted_at__isnull=True
        ).values_list("address", "channel", "reason"):
            self.suppressions.setdefault((address, channel), reason)
        rows = Subscription.objects.filter(
            profile_id__in={r.profile_id for r in requests if r.profile_id}, topic__isnull=True
        ).values_list("profile_id", "channel", "status", "source", "updated_at")
        self.subscriptions = {(p, c): _Subscription(*rest) for p, c, *rest in rows}


def _judge(request: ConsentRequest, state: _State, known: set[str]):
    """(outcome, what to write): write is 'event', 'suppression' or None."""
    if request.idempotency_key in known:
        return ConsentOutcome(None, "already recorded by this import"), None
    if request.action == CLEANED:
        if (request.address, request.channel) in state.suppressions:
            return ConsentOutcome(None, "address already suppressed"), None
        return ConsentOutcome(True, "address marked undeliverable"), "suppression"
    current = state.subscriptions.get((request.profile_id, request.channel))
    if current and current.status == STATUS_FOR[request.action]:
        return ConsentOutcome(None, f"already {current.status}"), None
    refusal = _refusal(request, state, current)
    if refusal:
        return ConsentOutcome(False, refusal), "event"
    return ConsentOutcome(True, "opted in" if request.action == OPT_IN else "opted out"), "event"


def _refusal(request: ConsentRequest, state: _State, current: _Subscription | None) -> str:
    if current and current.updated_at > request.occurred_at:
        since = f"{current.status} since {current.updated_at:%Y-%m-%d}"
        return f"refused: older than the current state ({since})"
    if request.action == OPT_OUT:
        return ""
    suppression = state.suppressions.get((request.address, request.channel))
    if suppression:
        blocker = f"address suppressed ({SuppressionReason(suppression).label})"
    elif current and current.status == ConsentStatus.UNSUBSCRIBED:
        blocker = f"the person opted out ({ConsentSource(current.source).label})"
    else:
        return _not_mobile(request)
    return f"refused: {blocker}; only the person can opt back in"


def _not_mobile(request: ConsentRequest) -> str:
    if request.channel == "sms" and not is_mobile(request.address):
        return f"refused: {request.address} is not a mobile number; SMS consent needs one"
    return ""


def _record(requests, outcomes, state: _State) -> None:
    events, suppressions = [], []
    for request, (outcome, write) in zip(requests, outcomes, strict=True):
        if write == "event":
            events.append((request, outcome))
        elif write == "suppression":
            suppressions.append(_suppression(request))
    ids = _insert_events([_event_values(request, outcome) for request, outcome in events])
    Suppression.objects.bulk_create(suppressions, ignore_conflicts=True)
    _upsert_subscriptions(
        [
            (
                request.profile_id,
                request.channel,
                STATUS_FOR[request.action],
                ConsentSource.IMPORT.value,
                ids[request.idempotency_key],
                request.occurred_at,
            )
            for request, outcome in events
            if outcome.applied
        ]
    )


def _event_values(request: ConsentRequest, outcome: ConsentOutcome) -> dict:
    return {
        "profile_id": request.profile_id,
        "address": request.address,
        "channel": request.channel,
        "action": ACTION_FOR[request.action].value,
        "source": ConsentSource.IMPORT.value,
        "evidence": request.evidence,
        "applied": bool(outcome.applied),
        "outcome": outcome.outcome[:200],
        "occurred_at": request.occurred_at,
        "idempotency_key": request.idempotency_key,
    }


def _suppression(request: ConsentRequest) -> Suppression:
    return Suppression(
        address=request.address,
        channel=request.channel,
        reason=SuppressionReason.HARD_BOUNCE,
        source=ConsentSource.IMPORT,
        evidence=request.evidence,
    )


# --- Set-based SQL: one statement per batch (the ORM's bulk_create costs ~50 us a row) ---

EVENT_TABLE = ConsentEvent._meta.db_table
SUBSCRIPTION_TABLE = Subscription._meta.db_table
EVENT_COLUMNS = (
    "profile_id", "address", "channel", "action", "source", "evidence", "applied", "outcome",
    "occurred_at", "idempotency_key",
)  # fmt: skip
EVENT_TYPES = (
    "bigint", "varchar", "varchar", "varchar", "varchar", "jsonb", "boolean", "varchar",
    "timestamptz", "varchar",
)  # fmt: skip
SUBSCRIPTION_COLUMNS = ("profile_id", "channel", "status", "source", "last_event_id", "updated_at")
SUBSCRIPTION_TYPES = ("bigint", "varchar", "varchar", "varchar", "bigint", "timestamptz")
# SQLite allows 32,766 bound variables per statement.
SQLITE_MAX_VARIABLES = 32_000


def _insert_events(rows: list[dict]) -> dict[str, int]:
    """Insert ledger rows; returns idempotency key -> id."""
    if not rows:
        return {}
    now = timezone.now()
    columns = (*EVENT_COLUMNS, "recorded_at")
    values = [
        [_db(row[c]) if c != "evidence" else json.dumps(row[c]) for c in EVENT_COLUMNS] + [_db(now)]
        for row in rows
    ]
    returning = "RETURNING id, idempotency_key"
    stored = _insert(EVENT_TABLE, columns, (*EVENT_TYPES, "timestamptz"), values, returning)
    return {key: pk for pk, key in stored}


def _upsert_subscriptions(rows: list[tuple]) -> None:
    """Channel-level Subscription rows: created, or moved to the new state."""
    if not rows:
        return
    updates = ", ".join(f"{c} = excluded.{c}" for c in ("status", "source", "last_event_id"))
    tail = (
        "ON CONFLICT (profile_id, channel) WHERE topic_id IS NULL "
        f"DO UPDATE SET {updates}, updated_at = excluded.updated_at"
    )
    values = [[_db(v) for v in row] for row in rows]
    _insert(SUBSCRIPTION_TABLE, SUBSCRIPTION_COLUMNS, SUBSCRIPTION_TYPES, values, tail)


def _insert(table, columns, types, rows, tail) -> list[tuple]:
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY into a staging table, then one INSERT ... SELECT (see profiles.imports.store).
            stage = staged(table, dict(zip(columns, types, strict=True)), rows)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} {tail}")
            return cursor.fetchall() if "RETURNING" in tail else []
        stored = []
        step = SQLITE_MAX_VARIABLES // len(columns)
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            marks = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(chunk))
            params = [value for row in chunk for value in row]
            cursor.execute(f"INSERT INTO {table} ({names}) VALUES {marks} {tail}", params)
            stored += cursor.fetchall() if "RETURNING" in tail else []
        return stored


def _db(value):
    # SQLite stores datetimes as text; PostgreSQL (COPY) takes them as they are.
    if connection.vendor != "postgresql" and isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value
