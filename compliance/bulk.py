"""Consent from imports, set-based: the rules of consent_record, for thousands of rows at once.

Same rules as compliance.services.consent_record with source=import: an opt-in never lifts
an address suppression or the person's own opt-out (the ledger row says so, applied=False);
an opt-out always applies; a change older than the current state does not replace it. Rows
that would change nothing write nothing, so a re-import leaves the ledger as it was. The
import's idempotency keys make a resumed batch record nothing twice.

The requests are staged once (see profiles.imports.store.staged) and the state they are
judged on (idempotency keys, suppressions, channel subscriptions) is read by joins against
the stage, three statements whatever the batch size.
"""

import json
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

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
from profiles.imports.store import is_postgres, staged
from profiles.imports.widgets import CLEANED, OPT_IN, OPT_OUT, is_mobile
from profiles.models import Profile

STATUS_FOR = {OPT_IN: ConsentStatus.SUBSCRIBED, OPT_OUT: ConsentStatus.UNSUBSCRIBED}
ACTION_FOR = {OPT_IN: ConsentAction.OPT_IN, OPT_OUT: ConsentAction.OPT_OUT}
EVENT_TABLE = ConsentEvent._meta.db_table
SUBSCRIPTION_TABLE = Subscription._meta.db_table
SUPPRESSION_TABLE = Suppression._meta.db_table
PROFILE_TABLE = Profile._meta.db_table
REQUEST_STAGE = {
    "n": "integer", "profile_id": "bigint", "address": "varchar", "channel": "varchar",
    "idempotency_key": "varchar",
}  # fmt: skip


def consent_import_many(
    *, requests: list[ConsentRequest], dry_run: bool = False
) -> list[ConsentOutcome]:
    """Judge and record many import consent requests; one outcome per request, in order."""
    if not requests:
        return []
    with transaction.atomic():
        judged = _judge_all(requests, range(len(requests)), "consent")
        writers = [n for n, (_, write) in enumerate(judged) if write and _lockable(requests[n])]
        if writers and connection.features.has_select_for_update:
            # Judged again under the profiles' locks: only the requests that write, so a
            # re-import that changes nothing locks nothing.
            again = _judge_all(requests, writers, "consent_locked", lock=True)
            for n, verdict in zip(writers, again, strict=True):
                judged[n] = verdict
        if not dry_run:
            _record(requests, judged)
    return [outcome for outcome, _ in judged]


def _lockable(request: ConsentRequest) -> bool:
    return bool(request.profile_id) and not request.profile_is_new


def _judge_all(requests, numbers, name: str, *, lock: bool = False) -> list:
    stage = staged(
        name,
        REQUEST_STAGE,
        (
            [n, requests[n].profile_id, requests[n].address, requests[n].channel,
             requests[n].idempotency_key]
            for n in numbers
        ),
    )  # fmt: skip
    if lock:
        _lock_profiles(stage)
    state = _State(stage)
    judged = {n: _judge(requests[n], False, *state.for_request(n)) for n in numbers}
    # The idempotency keys matter only where something would be written.
    known = _known_keys(stage, [n for n, (_, write) in judged.items() if write])
    for n in known:
        judged[n] = _judge(requests[n], True, None, None)
    return [judged[n] for n in numbers]


def _known_keys(stage: str, numbers: list[int]) -> set[int]:
    """Those of the staged requests `numbers` whose idempotency key is on the ledger."""
    if not numbers:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.n FROM {stage} s WHERE s.n IN (SELECT value FROM {_numbers()}) AND "
            f"(SELECT true FROM {EVENT_TABLE} e WHERE e.idempotency_key = s.idempotency_key "
            "AND e.idempotency_key IS NOT NULL)",
            [json.dumps(numbers) if not is_postgres() else "{" + ",".join(map(str, numbers)) + "}"],
        )
        return {n for (n,) in cursor.fetchall()}


def _numbers() -> str:
    """A table of the integers passed as the one parameter (an array / JSON text)."""
    return "unnest(%s::integer[]) AS value" if is_postgres() else "json_each(%s)"


def _lock_profiles(stage: str) -> None:
    # Serialises with consent_record (which locks the profile): a STOP and an import of
    # the same person never interleave. Primary-key order avoids deadlocks.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {PROFILE_TABLE} WHERE id = ANY(ARRAY(SELECT profile_id FROM {stage}))"
            " ORDER BY id FOR UPDATE"
        )


class _Subscription(NamedTuple):
    status: str
    source: str
    stored_at: str | datetime  # as read; parsed only for the few requests that need it

    @property
    def updated_at(self) -> datetime:
        return _aware(self.stored_at)


class _State:
    """Active suppressions and channel subscriptions of the staged requests.

    Each is a scalar subquery per staged row (an index probe), never a join the planner
    could turn into a scan of the whole ledger while its statistics lag during an import.
    """

    def __init__(self, stage: str):
        self.suppressions: dict[int, str] = dict(_rows(
            f"SELECT * FROM (SELECT s.n, (SELECT x.reason FROM {SUPPRESSION_TABLE} x "
            "WHERE x.address = s.address AND x.channel = s.channel AND x.lifted_at IS NULL "
            f"ORDER BY x.created_at DESC LIMIT 1) AS reason FROM {stage} s) AS found "
            "WHERE reason IS NOT NULL"
        ))  # fmt: skip
        self.subscriptions = {
            n: _Subscription(status, source, updated_at)
            for n, status, source, updated_at in _rows(_subscriptions_sql(stage))
        }

    def for_request(self, n: int) -> tuple[str | None, "_Subscription | None"]:
        return self.suppressions.get(n), self.subscriptions.get(n)


def _subscriptions_sql(stage: str) -> str:
    channel_wide = "x.profile_id = s.profile_id AND x.channel = s.channel AND x.topic_id IS NULL"
    if not is_postgres():  # SQLite has no LATERAL, and no hash join to fear
        return (
            f"SELECT s.n, x.status, x.source, x.updated_at FROM {stage} s "
            f"JOIN {SUBSCRIPTION_TABLE} x ON {channel_wide}"
        )
    return (
        f"SELECT s.n, x.status, x.source, x.updated_at::text FROM {stage} s, LATERAL (SELECT "
        f"x.status, x.source, x.updated_at FROM {SUBSCRIPTION_TABLE} x WHERE {channel_wide} "
        "LIMIT 1) AS x"
    )


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _aware(value) -> datetime:
    # Raw SQL on SQLite gives naive UTC datetimes (or text); the ORM would make them aware.
    moment = _parse(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse(text: str) -> datetime:
    # PostgreSQL's text form ("2025-01-02 03:04:05.6+00") is ISO 8601; SQLite's too.
    return parse_datetime(text) or datetime.fromisoformat(text)


def _judge(request: ConsentRequest, known: bool, suppression: str | None, current):
    """(outcome, what to write): write is 'event', 'suppression' or None."""
    if known:
        return ConsentOutcome(None, "already recorded by this import"), None
    if request.action == CLEANED:
        if suppression:
            return ConsentOutcome(None, "address already suppressed"), None
        return ConsentOutcome(True, "address marked undeliverable"), "suppression"
    if current and current.status == STATUS_FOR[request.action]:
        return ConsentOutcome(None, f"already {current.status}"), None
    refusal = _refusal(request, suppression, current)
    if refusal:
        return ConsentOutcome(False, refusal), "event"
    return ConsentOutcome(True, "opted in" if request.action == OPT_IN else "opted out"), "event"


def _refusal(request: ConsentRequest, suppression: str | None, current) -> str:
    if current and current.updated_at > request.occurred_at:
        since = f"{current.status} since {current.updated_at:%Y-%m-%d}"
        return f"refused: older than the current state ({since})"
    if request.action == OPT_OUT:
        return ""
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


# --- Writing: the ledger rows and subscriptions, one INSERT ... SELECT from a stage each ---

EVENT_STAGE = {
    "profile_id": "bigint", "address": "varchar", "channel": "varchar", "action": "varchar",
    "source": "varchar", "evidence": "jsonb", "applied": "boolean", "outcome": "varchar",
    "occurred_at": "timestamptz", "idempotency_key": "varchar", "recorded_at": "timestamptz",
}  # fmt: skip
SUBSCRIPTION_STAGE = {
    "profile_id": "bigint", "channel": "varchar", "status": "varchar", "source": "varchar",
    "last_event_id": "bigint", "updated_at": "timestamptz",
}  # fmt: skip
IMPORT = ConsentSource.IMPORT.value
SUBSCRIPTION_UPSERT = (
    "ON CONFLICT (profile_id, channel) WHERE topic_id IS NULL DO UPDATE SET status = "
    "excluded.status, source = excluded.source, last_event_id = excluded.last_event_id, "
    "updated_at = excluded.updated_at"
)


def _record(requests: list[ConsentRequest], judged: list) -> None:
    events = [(r, outcome) for r, (outcome, write) in zip(requests, judged, strict=True)
              if write == "event"]  # fmt: skip
    suppressions = [_suppression(r) for r, (_, write) in zip(requests, judged, strict=True)
                    if write == "suppression"]  # fmt: skip
    Suppression.objects.bulk_create(suppressions, ignore_conflicts=True)
    if not events:
        return
    if is_postgres():
        _insert_events_and_subscriptions(events)
        return
    ids = _insert_events(events)
    db = _adapter()
    _upsert_subscriptions(
        [
            [r.profile_id, r.channel, STATUS_FOR[r.action], IMPORT, ids[r.idempotency_key],
             db(r.occurred_at)]
            for r, outcome in events
            if outcome.applied
        ]
    )  # fmt: skip


def _suppression(request: ConsentRequest) -> Suppression:
    return Suppression(
        address=request.address,
        channel=request.channel,
        reason=SuppressionReason.HARD_BOUNCE,
        source=ConsentSource.IMPORT,
        evidence=json.loads(request.evidence),
    )


def _insert_events(events: list[tuple[ConsentRequest, ConsentOutcome]]) -> dict[str, int]:
    """Insert ledger rows; returns idempotency key -> id."""
    db = _adapter()
    now = db(timezone.now())
    rows = (
        [r.profile_id, r.address, r.channel, ACTION_FOR[r.action].value, IMPORT, r.evidence,
         bool(o.applied), o.outcome[:200], db(r.occurred_at), r.idempotency_key, now]
        for r, o in events
    )  # fmt: skip
    stored = _insert(EVENT_TABLE, EVENT_STAGE, rows, "RETURNING id, idempotency_key")
    return {key: pk for pk, key in stored}


def _insert_events_and_subscriptions(events: list[tuple[ConsentRequest, ConsentOutcome]]):
    """PostgreSQL: the ledger rows and the applied ones' subscriptions in one statement."""
    now = timezone.now()
    rows = (
        [r.profile_id, r.address, r.channel, ACTION_FOR[r.action].value, IMPORT, r.evidence,
         bool(o.applied), o.outcome[:200], r.occurred_at, r.idempotency_key, now]
        for r, o in events
    )  # fmt: skip
    stage = staged(EVENT_TABLE, EVENT_STAGE, rows)
    names = ", ".join(EVENT_STAGE)
    status = " ".join(
        f"WHEN '{ACTION_FOR[a].value}' THEN '{STATUS_FOR[a].value}'" for a in ACTION_FOR
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH stored AS (INSERT INTO {EVENT_TABLE} ({names}) SELECT {names} FROM {stage} "
            "RETURNING id, profile_id, channel, action, applied, occurred_at) "
            f"INSERT INTO {SUBSCRIPTION_TABLE} ({', '.join(SUBSCRIPTION_STAGE)}) "
            f"SELECT profile_id, channel, CASE action {status} END, '{IMPORT}', id, occurred_at "
            f"FROM stored WHERE applied {SUBSCRIPTION_UPSERT}"
        )


def _upsert_subscriptions(rows: list[list]) -> None:
    """Channel-level Subscription rows: created, or moved to the new state."""
    if not rows:
        return
    _insert(SUBSCRIPTION_TABLE, SUBSCRIPTION_STAGE, rows, SUBSCRIPTION_UPSERT)


def _insert(table: str, columns: dict[str, str], rows, tail: str) -> list[tuple]:
    stage = staged(table, columns, rows)
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        # "WHERE true": SQLite reads a bare "ON" after SELECT ... FROM as a join clause.
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} WHERE true {tail}"
        )
        return cursor.fetchall() if "RETURNING" in tail else []


def _adapter():
    # SQLite stores datetimes as text; PostgreSQL (COPY) takes them as they are.
    return (lambda value: value) if is_postgres() else connection.ops.adapt_datetimefield_value


# --- The set-based form, for requests an import stages with SQL (PostgreSQL) ---


class StagedConsent:
    """consent_import_many's rules in SQL, over requests an import builds with SQL.

    The PostgreSQL fast path hands `judge_sql` a SELECT of its requests (the columns of
    `COLUMNS`, one row a request, built from its own staged batch), then runs
    `record_judged_sql` (`now`: a timestamptz SQL literal) after it: the
    same judgement as `_judge` (suppressions and channel subscriptions read by one index
    probe each; a profile made in this transaction has none to read), the profiles of the
    requests that write locked and those judged again, the ledger rows inserted (a known
    idempotency key inserts nothing) with the applied ones' subscriptions in the same
    statement, and the suppressions of undeliverable addresses. It ends with one row:
    (consent_applied, consent_refused). No Python object a request.
    """

    JUDGED = "tandem_consent_judged"
    COLUMNS = {
        "line": "integer",
        "profile_id": "bigint",
        "is_new": "boolean",
        "address": "varchar",
        "channel": "varchar",
        "action": "varchar",
        "occurred_at": "timestamptz",
        "evidence": "text",
        "idempotency_key": "varchar",
        "mobile": "boolean",
    }  # fmt: skip  (evidence: JSON text, parsed only where a row is written)
    STATE = {"sup": "varchar", "cur_status": "varchar", "cur_source": "varchar",
             "cur_updated": "timestamptz", "verdict": "varchar"}  # fmt: skip

    def prepare_sql(self) -> str:
        """Makes the working table (once per connection) and empties it."""
        columns = ", ".join(f"{c} {t}" for c, t in (self.COLUMNS | self.STATE).items())
        return f"CREATE TEMP TABLE IF NOT EXISTS {self.JUDGED} ({columns}); TRUNCATE {self.JUDGED}"

    def judge_sql(self, requests: str) -> str:
        """The requests (`requests`: a SELECT of them) judged into the working table: one
        INSERT ... SELECT, which the caller may also run as a data-modifying CTE of its own
        statement (its SELECT then reads the caller's CTEs, with no table of requests in
        between)."""
        columns, judged = ", ".join(self.COLUMNS), ", ".join(self.COLUMNS | self.STATE)
        # OFFSET 0 keeps each probe a single evaluation (the verdict reads its result often).
        # Requests that would change nothing are not kept: they write and count nothing.
        return (
            f"INSERT INTO {self.JUDGED} ({judged}) SELECT * FROM (SELECT {columns}, "
            f"{_STATE_NAMES}, {_verdict()} AS verdict FROM (SELECT r.*, {_state('r')} FROM "
            f"({requests}) AS r LEFT JOIN LATERAL ({_subscription('r')}) AS c ON true "
            f"OFFSET 0) AS q) AS v WHERE {_VERDICT_WRITES}"
        )

    def record_judged_sql(self, now: str) -> str:
        """After `judge_sql`: the profiles locked, their requests judged again, written."""
        writes = f"NOT is_new AND profile_id IS NOT NULL AND {_VERDICT_WRITES}"
        return (
            # Serialises with consent_record (which locks the profile): a STOP and an import
            # of the same person never interleave. Only profiles whose requests write.
            f"SELECT count(*) AS tandem_locked FROM (SELECT id FROM {PROFILE_TABLE} WHERE id = "
            f"ANY(ARRAY(SELECT profile_id FROM {self.JUDGED} WHERE {writes})) ORDER BY id "
            "FOR UPDATE) AS locked; "
            f"UPDATE {self.JUDGED} AS j SET ({', '.join(self.STATE)}) = (SELECT "
            f"{_STATE_NAMES}, {_verdict()} FROM (SELECT j.action, j.address, j.channel, "
            f"j.occurred_at, j.mobile, {_state('j')} FROM (SELECT) AS one "
            f"LEFT JOIN LATERAL ({_subscription('j')}) AS c ON true OFFSET 0) AS q) "
            f"WHERE {writes}; " + self._write_sql(now)
        )

    def _write_sql(self, now: str) -> str:
        status = " ".join(
            f"WHEN '{ACTION_FOR[a].value}' THEN '{STATUS_FOR[a].value}'" for a in ACTION_FOR
        )
        kind = "split_part(verdict, '|', 1)"
        events = (
            f"INSERT INTO {EVENT_TABLE} ({', '.join(EVENT_STAGE)}) SELECT profile_id, address, "
            f"channel, action, '{IMPORT}', evidence::jsonb, {kind} = 'applied', "
            "left(substr(verdict, strpos(verdict, '|') + 1), 200), occurred_at, "
            f"idempotency_key, {now} FROM {self.JUDGED} WHERE {kind} IN ('applied', 'refused') "
            "AND <which> ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO "
            "NOTHING RETURNING id, profile_id, channel, action, applied, occurred_at"
        )
        subscriptions = (
            f"INSERT INTO {SUBSCRIPTION_TABLE} ({', '.join(SUBSCRIPTION_STAGE)}) SELECT "
            f"profile_id, channel, CASE action {status} END, '{IMPORT}', id, occurred_at "
            "FROM <stored> WHERE applied"
        )
        bounce = SuppressionReason.HARD_BOUNCE.value
        return (
            f"WITH stored_new AS ({events.replace('<which>', 'is_new')}), "
            # A profile made in this transaction has no subscription to update.
            f"subscribed_new AS ({subscriptions.replace('<stored>', 'stored_new')}), "
            f"stored AS ({events.replace('<which>', 'NOT is_new')}), "
            f"subscribed AS ({subscriptions.replace('<stored>', 'stored')} {SUBSCRIPTION_UPSERT}), "
            f"suppressed AS (INSERT INTO {SUPPRESSION_TABLE} (address, channel, reason, source, "
            f"evidence, created_at) SELECT address, channel, '{bounce}', '{IMPORT}', "
            f"evidence::jsonb, {now} FROM {self.JUDGED} WHERE {kind} = 'suppression' "
            "ON CONFLICT DO NOTHING) "
            "SELECT (SELECT count(*) FROM stored_new WHERE applied) + (SELECT count(*) FROM "
            "stored WHERE applied) + (SELECT count(*) FROM "
            f"{self.JUDGED} WHERE {kind} = 'suppression') AS consent_applied, "
            "(SELECT count(*) FROM stored_new WHERE NOT applied) + (SELECT count(*) FROM stored "
            "WHERE NOT applied) AS consent_refused"
        )


_STATE_NAMES = "sup, cur_status, cur_source, cur_updated"
_VERDICT_WRITES = "split_part(verdict, '|', 1) <> 'none'"


def _state(alias: str) -> str:
    """The active suppression of request `alias`'s address, by one index probe; and c.*.

    Probed only where `_verdict` may read it: an undeliverable address (CLEANED), or a
    request for another state than the subscription's. A re-import's rows mostly ask for
    the state they have ("already subscribed"): no probe for them (sup is NULL, unread).
    """
    target = " ".join(f"WHEN '{a}' THEN '{STATUS_FOR[a].value}'" for a in STATUS_FOR)
    return (
        f"CASE WHEN {alias}.action = '{CLEANED}' OR c.cur_status IS DISTINCT FROM (CASE "
        f"{alias}.action {target} END) THEN (SELECT x.reason FROM {SUPPRESSION_TABLE} x "
        f"WHERE x.address = {alias}.address AND x.channel = {alias}.channel AND "
        "x.lifted_at IS NULL ORDER BY x.created_at DESC LIMIT 1) END AS sup, c.*"
    )


def _subscription(alias: str) -> str:
    """The channel subscription of request `alias`'s profile; a profile made in this
    transaction has none (a one-time filter: no probe)."""
    return (
        "SELECT x.status AS cur_status, x.source AS cur_source, x.updated_at AS cur_updated "
        f"FROM {SUBSCRIPTION_TABLE} x WHERE NOT {alias}.is_new AND x.profile_id = "
        f"{alias}.profile_id AND x.channel = {alias}.channel AND x.topic_id IS NULL LIMIT 1"
    )


def _labels(column: str, choices) -> str:
    whens = " ".join(f"WHEN {_literal(c.value)} THEN {_literal(str(c.label))}" for c in choices)
    return f"CASE {column} {whens} ELSE {column} END"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _verdict() -> str:
    """`_judge` as one SQL expression over q: 'write|outcome', write one of none,
    suppression, applied, refused. (A known idempotency key is the insert's ON CONFLICT.)"""
    target = " ".join(f"WHEN '{a}' THEN '{STATUS_FOR[a].value}'" for a in STATUS_FOR)
    person = "; only the person can opt back in'"
    return (
        f"CASE WHEN q.action = '{CLEANED}' THEN CASE WHEN q.sup IS NOT NULL THEN "
        "'none|address already suppressed' ELSE 'suppression|address marked undeliverable' END "
        f"WHEN q.cur_status = (CASE q.action {target} END) THEN 'none|already ' || q.cur_status "
        "WHEN q.cur_updated > q.occurred_at THEN 'refused|refused: older than the current "
        "state (' || q.cur_status || ' since ' || "
        "to_char(q.cur_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ')' "
        f"WHEN q.action = '{OPT_OUT}' THEN 'applied|opted out' "
        "WHEN q.sup IS NOT NULL THEN 'refused|refused: address suppressed (' || "
        f"{_labels('q.sup', SuppressionReason)} || '){person} "
        f"WHEN q.cur_status = '{ConsentStatus.UNSUBSCRIBED.value}' THEN 'refused|refused: the "
        f"person opted out (' || {_labels('q.cur_source', ConsentSource)} || '){person} "
        "WHEN q.channel = 'sms' AND NOT q.mobile THEN 'refused|refused: ' || q.address || "
        "' is not a mobile number; SMS consent needs one' ELSE 'applied|opted in' END"
    )


consent_import_many.staged = StagedConsent()  # the fast path finds the SQL form here
