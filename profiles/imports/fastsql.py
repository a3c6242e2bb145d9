"""The fast path's write on PostgreSQL: the batch staged once, then one round trip of SQL.

After the batch's COPY into a temporary stage, one multi-statement query does the rest:
the profiles each row names (one index probe per identifier), the rows that fail (two
existing profiles, another external id, a second row for one profile), ids for the new
profiles from their sequence, the INSERT of the new ones, the UPDATE of the ones whose
values change (decided in SQL: an unchanged profile is never read into Python), the consent
requests built from the stage and judged by the ledger writer's SQL form, and one result:
failures and notes by line, the identifiers of matched profiles the duplicate index must
learn, and the counts. The rules are those of `fastpath` (ProfileIndex.match, _claim,
profile_changes, ConsentPolicy.requests_for), which SQLite and the admin still run in
Python; the import tests run on both databases.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from profiles.imports.consent import ConsentPolicy
from profiles.imports.formats import TRAIT_PREFIX, Plan
from profiles.imports.resource import WRITABLE, CleanRow, field_sources
from profiles.imports.widgets import OPT_IN, is_mobile
from profiles.models import Profile

TABLE = Profile._meta.db_table
IDENTIFIERS = ("external_id", "email", "phone")
MERGED = (*WRITABLE, "traits")
STAGE = "tandem_import_stage"  # the batch as cleaned, by COPY (a table per layout: Stage)
# The stage's columns but the traits: one text column per trait of the file follows (Stage).
STAGE_COLUMNS = (
    {"line": "integer"}
    | dict.fromkeys(WRITABLE, "varchar")
    | {"email_consent": "varchar", "email_consent_at": "timestamptz",
       "sms_consent": "varchar", "sms_consent_at": "timestamptz", "mobile": "boolean"}
)  # fmt: skip


class DryRun(Exception):
    """Rolls a dry run's batch back once its outcome is read."""

    def __init__(self, outcome):
        self.outcome = outcome


class SqlBatch:
    """Writes batches of cleaned rows with SQL; one per Importer (the SQL is built once)."""

    def __init__(
        self,
        *,
        plan: Plan,
        headers: list[str],
        policy: ConsentPolicy,
        overwrite: bool,
        dry_run: bool,
        consent_sql,
        announce,
    ):
        self.dry_run = dry_run
        self.stage = Stage(trait_names(plan, headers))
        self.traits = self.stage.traits
        self.sql = _batch_sql(self.stage, policy, overwrite, consent_sql, announce)

    def stage_row(self, row: CleanRow) -> tuple:
        """The row as the stage's COPY takes it: the traits one column each (None: absent),
        made into the profile's JSON by the SQL (`_traits_sql`)."""
        values = row.values
        mobile = row.mobile
        if mobile is None and "phone" in values:
            mobile = is_mobile(values["phone"])
        return (
            row.line, *map(values.get, WRITABLE), row.email_consent, row.email_consent_at,
            row.sms_consent, row.sms_consent_at, mobile, *map(row.traits.get, self.traits),
        )  # fmt: skip

    def run(
        self, staged: list[tuple], now: datetime, meanwhile: Callable[[], None] | None = None
    ) -> "Outcome":
        """The rows (`stage_row`s) written (in a dry run: judged, then rolled back).

        The stage's COPY and the statements go from a helper thread on this connection, which
        waits on the socket without the GIL, while `meanwhile` runs here; `meanwhile` must not
        touch the database.
        """
        try:
            with transaction.atomic():
                outcome = self._execute(staged, now, meanwhile)
                if self.dry_run:
                    raise DryRun(outcome)
        except DryRun as dry:
            return dry.outcome
        return outcome

    def _execute(self, staged: list[tuple], now: datetime, meanwhile) -> "Outcome":
        sql = self.sql.replace("{now}", _timestamp(now))
        connection.ensure_connection()
        with connection.wrap_database_errors:  # psycopg's errors as Django's (IntegrityError)
            if meanwhile is None:
                answers = _answers(connection.connection, self.stage, staged, sql)
            else:
                with ThreadPoolExecutor(1, thread_name_prefix="import-sql") as pool:
                    future = pool.submit(_answers, connection.connection, self.stage, staged, sql)
                    try:
                        meanwhile()
                    finally:
                        answers = future.result()
        outcome = Outcome()
        for first_column, rows in answers:
            outcome.read(first_column, rows)
        outcome.counts["unchanged"] = outcome.matched - outcome.counts["updated"]
        return outcome


def trait_names(plan: Plan, headers: list[str]) -> tuple[str, ...]:
    """The traits the file's rows may carry (ProfileResource.row_cleaner's), in plan order."""
    return tuple(
        name[len(TRAIT_PREFIX) :]
        for name, _, _ in field_sources(plan, headers)
        if name.startswith(TRAIT_PREFIX)
    )


class Stage:
    """The temporary table a batch is copied into: STAGE_COLUMNS, then `traits` text columns
    t0, t1... (named by position, never by the file's headers).

    Its name says its layout: a connection runs many files (a worker's jobs, the importer's
    own connection and each writer's), and a stage left by a file with another number of
    traits must not be taken for this one's (CREATE ... IF NOT EXISTS would keep its columns).
    """

    def __init__(self, traits: tuple[str, ...]):
        self.traits = traits  # the file's trait names, one column each in this order
        self.name = f"{STAGE}_{len(traits)}"
        self.trait_columns = tuple(f"t{n}" for n in range(len(traits)))
        columns = STAGE_COLUMNS | dict.fromkeys(self.trait_columns, "text")
        self.tables_sql = (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.name} "
            f"({', '.join(f'{c} {t}' for c, t in columns.items())}); TRUNCATE {self.name}"
        )
        self.copy_sql = f"COPY {self.name} ({', '.join(columns)}) FROM STDIN"
        self.types = list(columns.values())  # the COPY's dumpers chosen once, not per value


def _answers(raw, stage: Stage, staged: list[tuple], sql: str) -> list[tuple[str, list[tuple]]]:
    """On the psycopg connection `raw`: the stage filled by COPY, then the statements; each
    result set's first column name and rows."""
    answers = []
    with raw.cursor() as cursor:
        cursor.execute(stage.tables_sql)
        with cursor.copy(stage.copy_sql) as copy:
            copy.set_types(stage.types)
            for row in staged:
                copy.write_row(row)
        cursor.execute(sql)
        while True:
            if cursor.description:
                answers.append((cursor.description[0].name, cursor.fetchall()))
            if not cursor.nextset():
                return answers


class Outcome:
    """What the batch's SQL answered."""

    def __init__(self):
        self.counts = {"created": 0, "updated": 0, "unchanged": 0}
        self.matched = 0  # existing profiles the batch landed on, changed or not
        self.consent = (0, 0)
        self.failures: list[tuple[int, str]] = []
        self.notes: list[tuple[int, str, str]] = []  # (line, channel, note)
        self.claims: list[tuple[int, int]] = []  # (identifier hash, line)
        self.created: list[int] = []

    def read(self, first_column: str, rows: list[tuple]) -> None:
        if first_column == "consent_applied":
            self.consent = rows[0]
        elif first_column == "tandem_kind":
            for row in rows:
                self._read_row(*row)

    def _read_row(self, kind: str, line: int, a, b, c) -> None:
        if kind == "counts":
            self.counts["created"], self.matched, self.counts["updated"] = int(a), int(b), int(c)
        elif kind == "created":
            self.created.append(int(a))
        elif kind == "claim":
            for name, value in zip(IDENTIFIERS, (a, b, c), strict=True):
                if value is not None:
                    self.claims.append((hash((name, value)), line))
        elif kind == "keeps":
            self.notes.append((line, a, f"{a} consent not recorded: the profile keeps {b}"))
        elif kind == "mobile":
            self.notes.append(
                (line, "sms", f"SMS consent not recorded: {a} is not a mobile number")
            )
        else:
            self.failures.append((line, _failure(kind, a, b, c)))


def _failure(kind: str, a, b, c) -> str:
    if kind == "two":
        ids = ", ".join(dict.fromkeys(str(pk) for pk in (a, b, c) if pk is not None))
        return f"the row names two existing profiles ({ids}); an import does not merge people"
    if kind == "external":
        return f"profile {a} has external id {b!r}, the row {c!r}"
    return f"duplicate of line {a} (same profile)"


def _timestamp(moment: datetime) -> str:
    return f"'{moment.isoformat()}'::timestamptz"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return _timestamp(value)
    return "'" + str(value).replace("'", "''") + "'"


def _text(value: str) -> str:
    """Any text (a CSV header: untrusted) as an SQL literal: an escape string, read alike
    whatever standard_conforming_strings says, and without "{" (the batch's SQL is a
    template: `{now}` is replaced in it for every batch)."""
    escaped = value.replace("\\", "\\\\").replace("'", "''").replace("{", "\\x7b")
    return f"E'{escaped}'"


def _traits_sql(stage: Stage, table: str) -> str:
    """The row's traits as the profile's JSON object, from the stage's trait columns of
    `table`: the traits the row has (absent ones are NULL columns), NULL if none.

    jsonb_object of two arrays: no limit on the number of traits (jsonb_build_object takes
    at most 100 arguments), and half the server's time of jsonb_build_object, which looks up
    each argument's type every row (~0.8 s against ~1.4 s per 1M rows of four traits; parsing
    the JSON text the COPY used to carry took ~0.7 s)."""
    if not stage.traits:
        return "NULL::jsonb"
    keys = ", ".join(map(_text, stage.traits))
    values = ", ".join(f"{table}.{column}" for column in stage.trait_columns)
    return f"nullif(jsonb_strip_nulls(jsonb_object(ARRAY[{keys}], ARRAY[{values}])), '{{}}'::jsonb)"


# --- The batch's SQL, built once per file ---


def _batch_sql(
    stage: Stage, policy: ConsentPolicy, overwrite: bool, consent_sql, announce: bool
) -> str:
    parts = [
        # JIT would compile these many-subquery statements again for every batch (~1.4 s).
        "SET LOCAL jit = off",
        # The batch, its counters and its offset commit together: a commit lost with the
        # server (the last fraction of a second before a crash) is lost whole, and the job
        # resumes before it. Later synchronous commits flush it anyway (WAL is sequential).
        "SET LOCAL synchronous_commit = off",
        consent_sql.prepare_sql(),
        _write_sql(stage, _literal(_sequence()), policy, overwrite, announce, consent_sql),
        consent_sql.record_judged_sql("{now}"),
        # The foreign keys are deferred: their checks (three a ledger row with its
        # subscription, ~12 us a new row) would run at COMMIT, while this process waits.
        # Run them here, in the round trip that overlaps the next batch's cleaning; a
        # violation then fails the batch (IntegrityError: the row-by-row retry) rather than
        # the commit. Deferred again afterwards for whatever else the transaction does (every
        # deferrable constraint of the schema is a Django foreign key, INITIALLY DEFERRED).
        "SET CONSTRAINTS ALL IMMEDIATE",
        "SET CONSTRAINTS ALL DEFERRED",
    ]
    return "; ".join(part.strip().rstrip(";") for part in parts)


def _sequence() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        return cursor.fetchone()[0]


def _probe(name: str) -> str:
    # A scalar subquery per staged row: one index probe whatever the planner's statistics
    # say (during a big import they lag, and a hash join would scan the whole table).
    # The whole row: a matched profile is read once, by the probe that finds it, and an
    # identifier the profile found already holds is not asked again (they are unique).
    return f"(SELECT p FROM {TABLE} p WHERE p.{name} = s.{name} AND p.{name} IS NOT NULL)"


def _merge(name: str, new: str, old: str, overwrite: bool) -> str:
    """profile_changes for one field: the row's value, or the profile's when it keeps it."""
    if name == "traits":
        old_object = f"CASE WHEN jsonb_typeof({old}) = 'object' THEN {old} ELSE '{{}}' END"
        merged = f"{old_object} || {new}" if overwrite else f"{new} || {old_object}"
        return f"CASE WHEN {new} IS NULL THEN {old} ELSE {merged} END"
    if overwrite:
        return f"coalesce({new}, {old})"
    return f"CASE WHEN {new} IS NOT NULL AND coalesce({old}, '') = '' THEN {new} ELSE {old} END"


def _write_sql(
    stage: Stage,
    sequence: str,
    policy: ConsentPolicy,
    overwrite: bool,
    announce: bool,
    consent_sql,
) -> str:
    """One statement, one pass over the stage: ProfileIndex.match and Importer._claim (each
    row's profile id, new ones from the sequence, or why the row fails), the INSERT of the
    new profiles, the UPDATE of the changed ones (profile_changes; the unchanged are only
    compared), each landed row's consent asks with the address its profile ends with,
    judged into the ledger writer's working table (StagedConsent.judge_sql, a CTE here: no
    table of asks in between); and as its answer the counts, the failures, the claims (see
    _answer_sql) and the consent notes (_notes_sql)."""
    current = ", ".join(f"(c).{name} AS c_{name}" for name in MERGED)
    # The stage's columns, not the probed rows themselves: every later step reads c_*, and
    # the CTEs below are materialized and scanned several times (narrower rows, less copying).
    # The traits are one JSON object from here on (the trait columns are not carried on).
    staged = ", ".join(
        [
            *(f"probed.{name}" for name in STAGE_COLUMNS),
            f"{_traits_sql(stage, 'probed')} AS traits",
        ]
    )
    merged = {name: _merge(name, name, f"c_{name}", overwrite) for name in MERGED}
    assigned = {name: _merge(name, f"rows.{name}", f"rows.c_{name}", overwrite) for name in MERGED}
    olds = ", ".join(f"c_{name}" for name in MERGED)
    names = ", ".join(WRITABLE)
    news = ", ".join(name if name in IDENTIFIERS else f"coalesce({name}, '')" for name in WRITABLE)
    return f"""
        WITH known AS MATERIALIZED (
            -- Materialized narrow: the stage's columns, the ids found and the profile's
            -- values, not the three probed rows (a batch of those spilled to disk, and every
            -- later scan copied them); and why the row fails, if it does.
            SELECT known.*, CASE WHEN two THEN 'two'
                WHEN external_id IS NOT NULL AND c_external_id IS NOT NULL
                    AND c_external_id <> external_id THEN 'external' END AS failure
            FROM (
            SELECT {staged}, (e_row).id AS e_id, (m_row).id AS m_id, (p_row).id AS p_id,
                coalesce((e_row).id, (m_row).id, (p_row).id) AS found,
                coalesce((e_row).id <> (m_row).id, false) OR coalesce((e_row).id <> (p_row).id,
                false) OR coalesce((m_row).id <> (p_row).id, false) AS two,
                {current}
            FROM (SELECT probed.*, coalesce(e_row, m_row, p_row) AS c FROM (
                SELECT s.*, CASE WHEN (m_row).phone = s.phone THEN m_row
                    WHEN (e_row).phone = s.phone THEN e_row ELSE {_probe("phone")} END AS p_row
                FROM (
                    SELECT s.*, CASE WHEN (e_row).email = s.email THEN e_row
                        ELSE {_probe("email")} END AS m_row
                    FROM (SELECT s.*, {_probe("external_id")} AS e_row FROM {stage.name} s
                        OFFSET 0) AS s
                    OFFSET 0
                ) AS s
                OFFSET 0
            ) AS probed OFFSET 0) AS probed
            ) AS known
        ), firsts AS (
            -- A profile takes the first row naming it: a hash aggregate over the ids found
            -- (a window over the batch sorted every wide row, ~1.5 us a row).
            SELECT found AS first_found, min(line) AS first_line FROM known
            WHERE failure IS NULL AND found IS NOT NULL GROUP BY found
        ), claimed AS (
            SELECT known.*, CASE WHEN failure IS NOT NULL THEN failure
                WHEN found IS NOT NULL AND line <> first_line THEN 'claimed' END AS problem,
                first_line
            FROM known LEFT JOIN firsts ON first_found = found
        ), rows AS MATERIALIZED (
            SELECT claimed.*,
                CASE WHEN problem IS NULL THEN coalesce(found, nextval({sequence})) END AS pid,
                found IS NULL AS is_new,
                problem IS NULL AND found IS NOT NULL
                    AND ({olds}) IS DISTINCT FROM ({", ".join(merged.values())}) AS changed,
                CASE WHEN found IS NULL THEN email ELSE {merged["email"]} END AS final_email,
                CASE WHEN found IS NULL THEN phone ELSE {merged["phone"]} END AS final_phone
            FROM claimed
        ), created AS (
            INSERT INTO {TABLE} (id, {names}, traits, created_at, updated_at)
            SELECT pid, {news}, coalesce(traits, '{{}}'), {{now}}, {{now}}
            FROM rows WHERE is_new AND pid IS NOT NULL ORDER BY line
        ), updated AS (
            UPDATE {TABLE} AS p
            SET {", ".join(f"{name} = {value}" for name, value in assigned.items())},
                updated_at = {{now}}
            FROM rows WHERE rows.changed AND p.id = rows.pid
                -- the id list keeps the plan on the primary key, whatever the statistics
                AND p.id = ANY(ARRAY(SELECT pid FROM rows WHERE changed))
        ), asks AS (
            SELECT r.line, r.pid, r.is_new, q.*, r.mobile FROM rows r {_channels(policy)}
            WHERE r.pid IS NOT NULL AND q.action IS NOT NULL AND q.address IS NOT NULL
        ), judged AS (
            {consent_sql.judge_sql(_requests_sql(policy))}
        )
        {_answer_sql(announce)}
        UNION ALL {_notes_sql()}
    """


def _answer_sql(announce: bool) -> str:
    """The write statement's answer: the counts (created, matched, changed), the failures
    (line, kind, details), the identifiers of matched profiles the rows do not carry (for
    the duplicate index) and, to announce them, the new profiles' ids."""
    claims = ", ".join(
        f"CASE WHEN c_{name} IS DISTINCT FROM {name} THEN c_{name} END" for name in IDENTIFIERS
    )
    differs = " OR ".join(
        f"(c_{name} IS DISTINCT FROM {name} AND c_{name} IS NOT NULL)" for name in IDENTIFIERS
    )
    created = (
        "UNION ALL SELECT 'created', line, pid::text, NULL, NULL FROM rows "
        "WHERE is_new AND pid IS NOT NULL"
    )
    return f"""
        SELECT 'counts' AS tandem_kind, 0 AS line,
            count(*) FILTER (WHERE is_new AND pid IS NOT NULL)::text,
            count(*) FILTER (WHERE NOT is_new AND pid IS NOT NULL)::text,
            count(*) FILTER (WHERE changed)::text
        FROM rows
        UNION ALL SELECT problem, line,
            CASE problem WHEN 'two' THEN e_id::text WHEN 'external' THEN found::text
                ELSE first_line::text END,
            CASE problem WHEN 'two' THEN m_id::text WHEN 'external' THEN c_external_id END,
            CASE problem WHEN 'two' THEN p_id::text WHEN 'external' THEN external_id END
        FROM rows WHERE problem IS NOT NULL
        UNION ALL SELECT 'claim', line, {claims}
        FROM rows WHERE pid IS NOT NULL AND NOT is_new AND ({differs})
        {created if announce else ""}
    """


def _channels(policy: ConsentPolicy) -> str:
    """(channel, address, action, time, explicit, final) of each row and channel; final is
    the address the profile holds after the row."""
    email = _literal(OPT_IN if policy.email_declared else None)
    sms = _literal(OPT_IN if policy.sms_declared else None)
    return f"""
        CROSS JOIN LATERAL (VALUES
            ('email', r.email, coalesce(r.email_consent, {email}), r.email_consent_at,
                r.email_consent IS NOT NULL, r.final_email),
            ('sms', r.phone, coalesce(r.sms_consent, {sms}), r.sms_consent_at,
                r.sms_consent IS NOT NULL, r.final_phone)
        ) AS q(channel, address, action, at, explicit, final)
    """


def _requests_sql(policy: ConsentPolicy) -> str:
    """ConsentPolicy.requests_for for every landed row of the batch, as one SELECT. The
    evidence is JSON text: the ledger parses only what it writes."""
    head = " ".join(
        f"WHEN a.channel = '{channel}' AND a.explicit = {explicit} THEN "
        f"{_literal(policy.evidence_head(channel, explicit))}"
        for channel in ("email", "sms")
        for explicit in (True, False)
    )
    tail = (
        "CASE WHEN a.at IS NOT NULL THEN ', \"time_from_file\": true}' "
        "ELSE ', \"time_from_file\": false}' END"
    )
    return f"""
        SELECT a.line, a.pid AS profile_id, a.is_new, a.address, a.channel, a.action,
            coalesce(a.at, {_literal(policy.started_at)}) AS occurred_at,
            (CASE {head} END) || a.line || {tail} AS evidence,
            'import:' || {_literal(str(policy.job_id))} || ':' || a.line || ':' || a.channel
                AS idempotency_key,
            a.mobile
        FROM asks a
        WHERE a.final = a.address AND (a.channel <> 'sms' OR a.action <> '{OPT_IN}' OR a.mobile)
    """


def _notes_sql() -> str:
    """ConsentPolicy.requests_for's notes: consent asked for an address the profile does not
    hold after the row (it kept its own), or SMS consent for a number that is no mobile."""
    keeps = "a.final IS DISTINCT FROM a.address"
    return f"""
        SELECT CASE WHEN {keeps} THEN 'keeps' ELSE 'mobile' END AS tandem_kind, a.line,
            CASE WHEN {keeps} THEN a.channel ELSE a.address END, a.final, NULL
        FROM asks a
        WHERE {keeps} OR (a.channel = 'sms' AND a.action = '{OPT_IN}' AND NOT a.mobile)
    """
