"""One conditional UPDATE for many rows, each with its own values, returning the rows won.

Django's bulk_update builds a CASE WHEN per field and row, and spends most of a batch's
time resolving those expressions. This writes `UPDATE ... FROM (VALUES ...) ... WHERE
status IN (...) RETURNING id` instead (PostgreSQL; SQLite 3.35+), so the claim and the
result updates cost one statement per batch and say which rows they changed.
"""

import json
from collections.abc import Sequence

from django.db import connection
from django.db.models import JSONField, Model

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
    meta = type(objs[0])._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    source, params = _rows_source(objs, columns)
    table, pk = connection.ops.quote_name(meta.db_table), meta.pk.column
    assignments = ", ".join(
        f"{connection.ops.quote_name(f.column)} = {_column(f, i)}"
        for i, f in enumerate(columns[1:], 2)
    )
    statuses = ", ".join(["%s"] * len(status_in))
    sql = (
        f"UPDATE {table} SET {assignments} FROM {source} "
        f"WHERE {table}.{pk} = v.column1 AND {table}.status IN ({statuses}) "
        f"RETURNING {table}.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *status_in])
        return {pk for (pk,) in cursor.fetchall()}


def _rows_source(objs, columns) -> tuple[str, list]:
    """The new values as a relation `v(column1, column2, ...)`, and its parameters."""
    values = [[_value(field, obj) for field in columns] for obj in objs]
    if connection.vendor == "postgresql":
        # One array per column: a handful of parameters instead of rows x columns.
        arrays = ", ".join(f"%s::{_array_type(field)}[]" for field in columns)
        names = ", ".join(f"column{i}" for i in range(1, len(columns) + 1))
        return f"unnest({arrays}) AS v({names})", [list(c) for c in zip(*values, strict=True)]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"(VALUES {', '.join([row] * len(objs))}) AS v", [v for row in values for v in row]


def _value(field, obj):
    value = field.get_db_prep_save(getattr(obj, field.attname), connection)
    if isinstance(field, JSONField) and connection.vendor == "postgresql":
        return json.dumps(field.get_prep_value(getattr(obj, field.attname)), cls=field.encoder)
    return value


def _array_type(field) -> str:
    return "text" if isinstance(field, JSONField) else field.cast_db_type(connection)


def _column(field, index: int) -> str:
    if isinstance(field, JSONField) and connection.vendor == "postgresql":
        return f"v.column{index}::jsonb"
    return f"v.column{index}"
