"""Set-based reads and writes of profiles for the fast path, one statement per batch.

PostgreSQL: the batch is COPYed into a temporary staging table, then one INSERT ... SELECT
... ON CONFLICT DO NOTHING RETURNING and one UPDATE ... FROM (COPY is formatted in C;
array parameters are escaped element by element in Python, ~5x slower). SQLite: a
multi-row INSERT ... RETURNING and an executemany UPDATE. Raw SQL also skips the phone
field's per-row parsing on read.
"""

import json
from typing import Any

from django.db import connection
from django.utils import timezone

from profiles.imports.resource import WRITABLE
from profiles.models import Profile

TABLE = Profile._meta.db_table
COLUMNS = (*WRITABLE, "traits")
# SQLite allows 32,766 bound variables per statement.
SQLITE_ROWS_PER_INSERT = 32_000 // (len(COLUMNS) + 2)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def staged(name: str, columns: dict[str, str], rows) -> str:
    """PostgreSQL: `rows` COPYed into a temporary table (made once per connection)."""
    table = f"tandem_stage_{name}"
    definition = ", ".join(f"{column} {kind}" for column, kind in columns.items())
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({definition})")
        cursor.execute(f"DELETE FROM {table}")
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return table


PROFILE_STAGE = {name: "varchar" for name in WRITABLE} | {"traits": "jsonb"}


def lookup(values: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Profiles holding any of these external ids, emails or phones, as plain dicts."""
    names = [name for name in ("external_id", "email", "phone") if values.get(name)]
    if not names:
        return []
    select = f"SELECT id, {', '.join(COLUMNS)} FROM {TABLE} WHERE "
    with connection.cursor() as cursor:
        if is_postgres():
            keys = ((name, value) for name in names for value in values[name])
            stage = staged("keys", {"kind": "varchar", "value": "varchar"}, keys)
            where = " OR ".join(
                f"{name} IN (SELECT value FROM {stage} WHERE kind = '{name}')" for name in names
            )
            cursor.execute(select + where)
        else:
            where = " OR ".join(
                f"{name} IN ({', '.join(['%s'] * len(values[name]))})" for name in names
            )
            cursor.execute(select + where, [v for name in names for v in values[name]])
        rows = cursor.fetchall()
    return [_as_dict(row) for row in rows]


def _as_dict(row: tuple) -> dict[str, Any]:
    found = dict(zip(("id", *COLUMNS), row, strict=True))
    if isinstance(found["traits"], str):
        found["traits"] = json.loads(found["traits"])
    return found


def insert(rows: list[dict[str, Any]]) -> list[tuple[int, str | None, str | None, str | None]]:
    """Insert new profiles; returns (id, external_id, email, phone) of the rows stored.

    A row that collides with a profile stored meanwhile is skipped, not returned.
    """
    if not rows:
        return []
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    if is_postgres():
        return _insert_postgres(rows, now)
    stored = []
    for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
        stored += _insert_sqlite(rows[start : start + SQLITE_ROWS_PER_INSERT], now)
    return stored


def _insert_postgres(rows, now) -> list[tuple]:
    stage = staged("new", PROFILE_STAGE, (_staged_row(row) for row in rows))
    names = ", ".join(COLUMNS)
    sql = (
        f"INSERT INTO {TABLE} ({names}, created_at, updated_at) "
        f"SELECT {names}, %s, %s FROM {stage} "
        "ON CONFLICT DO NOTHING RETURNING id, external_id, email, phone"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now])
        return cursor.fetchall()


def _staged_row(row: dict[str, Any]) -> list:
    return [row.get(name) for name in WRITABLE] + [json.dumps(row.get("traits") or {})]


def _insert_sqlite(rows, now) -> list[tuple]:
    width = len(COLUMNS) + 2
    placeholders = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(rows))
    params: list = []
    for row in rows:
        params += [row.get(name) for name in WRITABLE]
        params += [json.dumps(row.get("traits") or {}), now, now]
    sql = (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}, created_at, updated_at) "
        f"VALUES {placeholders} ON CONFLICT DO NOTHING RETURNING id, external_id, email, phone"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def update(rows: list[dict[str, Any]]) -> None:
    """Write the full writable values of existing profiles (id in each row)."""
    if not rows:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    assignments = ", ".join(f"{name} = u.{name}" for name in COLUMNS)
    with connection.cursor() as cursor:
        if is_postgres():
            arrays = [[row["id"] for row in rows]]
            arrays += [[row.get(name) for row in rows] for name in WRITABLE]
            arrays.append([json.dumps(row.get("traits") or {}) for row in rows])
            casts = ", ".join(
                ["%s::bigint[]"] + ["%s::varchar[]"] * len(WRITABLE) + ["%s::jsonb[]"]
            )
            cursor.execute(
                f"UPDATE {TABLE} AS p SET {assignments}, updated_at = %s "
                f"FROM unnest({casts}) AS u(id, {', '.join(COLUMNS)}) WHERE p.id = u.id",
                [now, *arrays],
            )
            return
        sets = ", ".join(f"{name} = %s" for name in COLUMNS)
        cursor.executemany(
            f"UPDATE {TABLE} SET {sets}, updated_at = %s WHERE id = %s",
            [
                [row.get(name) for name in WRITABLE]
                + [json.dumps(row.get("traits") or {}), now, row["id"]]
                for row in rows
            ],
        )
