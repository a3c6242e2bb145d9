"""Set-based reads and writes of profiles for the fast path, one statement per batch.

PostgreSQL takes whole columns as arrays (unnest), so a batch is one INSERT ... ON CONFLICT
DO NOTHING RETURNING and one UPDATE ... FROM; SQLite takes a multi-row INSERT ... RETURNING
and an executemany UPDATE. Raw SQL skips the phone field's per-row parsing on read.
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


def lookup(values: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Profiles holding any of these external ids, emails or phones, as plain dicts."""
    names = [name for name in ("external_id", "email", "phone") if values.get(name)]
    if not names:
        return []
    select = f"SELECT id, {', '.join(COLUMNS)} FROM {TABLE} WHERE "
    with connection.cursor() as cursor:
        if is_postgres():
            where = " OR ".join(f"{name} = ANY(%s)" for name in names)
            cursor.execute(select + where, [list(values[name]) for name in names])
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
    arrays = [[row.get(name) for row in rows] for name in WRITABLE]
    arrays.append([json.dumps(row.get("traits") or {}) for row in rows])
    casts = ", ".join(["%s::varchar[]"] * len(WRITABLE) + ["%s::jsonb[]"])
    sql = (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}, created_at, updated_at) "
        f"SELECT u.*, %s, %s FROM unnest({casts}) AS u "
        "ON CONFLICT DO NOTHING RETURNING id, external_id, email, phone"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, *arrays])
        return cursor.fetchall()


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
