"""One conditional UPDATE for many rows, each with its own values, returning the rows won.

Django's bulk_update builds a CASE WHEN per field and row, and spends most of a batch's
time resolving those expressions. This writes `UPDATE ... FROM (VALUES ...) ... WHERE
status IN (...) RETURNING id` instead (PostgreSQL; SQLite 3.35+), so the claim and the
result updates cost one statement per batch and say which rows they changed.
"""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model

CHUNK = 500  # rows per statement: far below SQLite's 32,766 parameters


def rows_update(
    objs: Sequence[Model], fields: Sequence[str], *, status_in: Sequence[str]
) -> set[int]:
    """Write `fields` of each object to its row where the row's status is in `status_in`;
    returns the pks of the rows updated."""
    won: set[int] = set()
    for start in range(0, len(objs), CHUNK):
        won |= _update_chunk(objs[start : start + CHUNK], fields, status_in)
    return won


def _update_chunk(objs, fields, status_in) -> set[int]:
    model = type(objs[0])
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    row = "(" + ", ".join(_placeholder(field) for field in columns) + ")"
    params = [
        field.get_db_prep_save(getattr(obj, field.attname), connection)
        for obj in objs
        for field in columns
    ]
    table, pk = connection.ops.quote_name(meta.db_table), meta.pk.column
    assignments = ", ".join(
        f"{connection.ops.quote_name(f.column)} = v.column{i}" for i, f in enumerate(columns[1:], 2)
    )
    statuses = ", ".join(["%s"] * len(status_in))
    sql = (
        f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(objs))}) AS v "
        f"WHERE {table}.{pk} = v.column1 AND {table}.status IN ({statuses}) "
        f"RETURNING {table}.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *status_in])
        return {pk for (pk,) in cursor.fetchall()}


def _placeholder(field) -> str:
    # PostgreSQL types a VALUES list from its rows: say each column's type. SQLite must not
    # CAST (a timestamp cast to its NUMERIC affinity would become a year).
    if connection.vendor == "postgresql":
        return f"%s::{field.cast_db_type(connection)}"
    return "%s"
