"""Set-based reads and writes of profiles for the fast path, a few statements per batch.

The batch's cleaned rows go once into a temporary staging table (PostgreSQL: COPY, formatted
in C; SQLite: executemany), and every later step is a join against it: the lookup of the
profiles the batch names, the INSERT ... SELECT ... ON CONFLICT DO NOTHING of the new ones.
Changed profiles go through a second stage and one UPDATE ... FROM. Raw SQL also skips the
phone field's per-row parsing on read.
"""

import json
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.utils import timezone

from profiles.imports.resource import WRITABLE
from profiles.models import Profile

TABLE = Profile._meta.db_table
COLUMNS = (*WRITABLE, "traits")
KEYS = ("external_id", "email", "phone")


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def staged(name: str, columns: dict[str, str], rows: Iterable) -> str:
    """`rows` in a fresh temporary table (made once per connection); returns its name.

    `columns` maps column -> PostgreSQL type; SQLite takes the names only.
    """
    table = f"tandem_stage_{name}"
    postgres = is_postgres()
    definition = ", ".join(f"{c} {kind if postgres else ''}" for c, kind in columns.items())
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({definition})")
        # TRUNCATE, not DELETE: autovacuum never visits temporary tables, so deleted rows
        # would pile up batch after batch and slow every scan of the stage.
        cursor.execute(f"{'TRUNCATE' if postgres else 'DELETE FROM'} {table}")
        names = ", ".join(columns)
        if postgres:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))
    return table


BATCH_STAGE = {"line": "integer"} | {name: "varchar" for name in WRITABLE} | {"traits": "jsonb"}


def stage_batch(rows: Iterable[tuple[int, dict[str, Any]]]) -> None:
    """The batch's rows as new profiles would hold them: (line, values) pairs."""
    staged("batch", BATCH_STAGE, ([line, *_values(values)] for line, values in rows))


def _values(values: dict[str, Any]) -> list:
    return [values.get(name) for name in WRITABLE] + [json.dumps(values.get("traits") or {})]


def lookup_staged() -> list[dict[str, Any]]:
    """The existing profiles holding an external id, email or phone of the staged batch."""
    columns = f"SELECT id, {', '.join(COLUMNS)} FROM {TABLE} WHERE id "
    if not is_postgres():
        matches = " UNION ".join(
            f"SELECT p.id FROM tandem_stage_batch s JOIN {TABLE} p ON p.{key} = s.{key} "
            f"WHERE s.{key} IS NOT NULL AND p.{key} IS NOT NULL"
            for key in KEYS
        )
        return _fetch(f"{columns} IN ({matches})", [])
    # One index probe per staged identifier, whatever the planner's statistics say: during
    # a big import they lag far behind, and a hash join would scan the whole table per batch.
    probes = ", ".join(
        f"((SELECT p.id FROM {TABLE} p WHERE p.{key} = s.{key} AND p.{key} IS NOT NULL))"
        for key in KEYS
    )
    found = (
        f"SELECT v.id FROM tandem_stage_batch s, LATERAL (VALUES {probes}) AS v(id) "
        "WHERE v.id IS NOT NULL"
    )
    return _fetch(f"{columns} = ANY(ARRAY({found}))", [])


def lookup(values: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Profiles holding any of these external ids, emails or phones (a few rows: the admin)."""
    names = [name for name in KEYS if values.get(name)]
    if not names:
        return []
    where = " OR ".join(f"{name} IN ({', '.join(['%s'] * len(values[name]))})" for name in names)
    params = [value for name in names for value in values[name]]
    return _fetch(f"SELECT id, {', '.join(COLUMNS)} FROM {TABLE} WHERE {where}", params)


def _fetch(sql: str, params: list) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_as_dict(row) for row in rows]


def _as_dict(row: tuple) -> dict[str, Any]:
    found = dict(zip(("id", *COLUMNS), row, strict=True))
    if isinstance(found["traits"], str):
        found["traits"] = json.loads(found["traits"])
    return found


def insert_staged(skip: list[int]) -> list[tuple[int, str | None, str | None, str | None]]:
    """Insert the staged rows but the `skip` lines; (id, external_id, email, phone) of each.

    A row that collides with a profile stored meanwhile is skipped, not returned.
    """
    if skip:
        stage = staged("skip", {"line": "integer"}, ([line] for line in skip))
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM tandem_stage_batch WHERE line IN (SELECT line FROM {stage})"
            )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    names = ", ".join(COLUMNS)
    sql = (
        f"INSERT INTO {TABLE} ({names}, created_at, updated_at) "
        f"SELECT {names}, %s, %s FROM tandem_stage_batch WHERE true "
        "ON CONFLICT DO NOTHING RETURNING id, external_id, email, phone"
    )  # "WHERE true": SQLite reads a bare "ON" after SELECT ... FROM as a join clause
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now])
        return cursor.fetchall()


UPDATE_STAGE = {"id": "bigint"} | {name: "varchar" for name in WRITABLE} | {"traits": "jsonb"}


def update(rows: list[dict[str, Any]]) -> None:
    """Write the full writable values of existing profiles (id in each row)."""
    if not rows:
        return
    stage = staged("update", UPDATE_STAGE, ([row["id"], *_values(row)] for row in rows))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    assignments = ", ".join(f"{name} = u.{name}" for name in COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET {assignments}, updated_at = %s "
            f"FROM {stage} AS u WHERE {TABLE}.id = u.id",
            [now],
        )
