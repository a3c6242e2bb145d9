"""One conditional UPDATE for many rows, each with its own values, returning the rows won.

Django's bulk_update builds a CASE WHEN per field and row, and spends most of a batch's
time resolving those expressions. This writes `UPDATE ... FROM (VALUES ...) ... WHERE
status IN (...) RETURNING id` instead (PostgreSQL; SQLite 3.35+), so the claim and the
result updates cost one statement per batch and say which rows they changed.

On PostgreSQL the new values go as one binary array per column over server-side binding
(`%b`): a text-format array is quoted element by element in Python and parsed again by the
server, which cost ~90 us a row for a rendered email; binary costs ~8. Values Django would
pass through unchanged (a str for a CharField, an aware datetime on PostgreSQL) skip
`get_db_prep_save`.
"""

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from operator import attrgetter

from django.db import connection
from django.db.models import (
    AutoField,
    BigAutoField,
    BigIntegerField,
    CharField,
    DateTimeField,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    OneToOneField,
    PositiveIntegerField,
    PositiveSmallIntegerField,
    SmallIntegerField,
    TextField,
)

# Field classes (exactly these, not subclasses) whose get_db_prep_save returns a value of
# these types unchanged.
_UNCHANGED = {
    CharField: (str,),
    TextField: (str,),
    **{
        kind: (int,)
        for kind in (
            AutoField,
            BigAutoField,
            BigIntegerField,
            IntegerField,
            PositiveIntegerField,
            PositiveSmallIntegerField,
            SmallIntegerField,
        )
    },
}


def _kept(field) -> tuple:
    """The types whose values field.get_db_prep_save returns unchanged. A foreign key to an
    integer key passes an int through its target field's (an id stays that id): checked per
    column, not value by value through the connection (~3 us a message in a journey tick)."""
    if type(field) in (ForeignKey, OneToOneField):
        kept = _UNCHANGED.get(type(field.target_field), ())
        return kept if kept == (int,) else ()
    return _UNCHANGED.get(type(field), ())


CHUNK = 500  # rows per statement: far below SQLite's 32,766 parameters


def rows_update(
    objs: Sequence[Model], fields: Sequence[str], *, status_in: Sequence[str]
) -> set[int]:
    """Write `fields` of each object to its row where the row's status is in `status_in`;
    returns the pks of the rows updated."""
    return rows_update_start(objs, fields, status_in=status_in)()


def rows_update_start(
    objs: Sequence[Model], fields: Sequence[str], *, status_in: Sequence[str]
) -> Callable[[], set[int]]:
    """rows_update in two halves: the statements go now, the function returned reads their
    answers (the pks updated). Between the two, in psycopg's pipeline mode, the server
    works on the update while the caller goes on (channels.services.claim)."""
    cursors = []
    try:
        for start in range(0, len(objs), CHUNK):
            cursor = server_bound_cursor()
            cursors.append(cursor)
            _update_chunk(cursor, objs[start : start + CHUNK], fields, status_in)
    except BaseException:
        for cursor in cursors:
            cursor.close()
        raise

    def won() -> set[int]:
        pks: set[int] = set()
        for cursor in cursors:
            with cursor:
                pks.update(pk for (pk,) in cursor.fetchall())
        return pks

    return won


def _update_chunk(cursor, objs, fields, status_in) -> None:
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
    cursor.execute(sql, [*params, *status_in])


def server_bound_cursor():
    """A cursor that binds on the server where it can (PostgreSQL with psycopg 3), wrapped
    like Django's own cursors (query logging, error translation). psycopg prepares a
    statement it has run a few times on the connection (prepare_threshold)."""
    if not _binary_arrays():  # SQLite, or psycopg 2 (no server-side binding)
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()  # as Django's own cursor() does
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


def binary_slot() -> str:
    """The placeholder for an array parameter: binary where the cursor can bind it so."""
    return "%b" if _binary_arrays() else "%s"


def _binary_arrays() -> bool:
    """Server-side binding, and with it binary arrays: PostgreSQL through psycopg 3."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.base import is_psycopg3

    return is_psycopg3


def _rows_source(objs, columns) -> tuple[str, list]:
    """The new values as a relation `v(column1, column2, ...)`, and its parameters."""
    read = attrgetter(*(field.attname for field in columns))
    rows = [read(obj) for obj in objs] if len(columns) > 1 else [(read(obj),) for obj in objs]
    prepared = [
        _prepared(field, [row[index] for row in rows]) for index, field in enumerate(columns)
    ]
    if connection.vendor == "postgresql":
        # One array per column: a handful of parameters instead of rows x columns.
        slots, params = [], []
        for field, column in zip(columns, prepared, strict=True):
            literal = _short_literal(column)
            slots.append(
                f"{'%s' if literal is not None else binary_slot()}::{_array_type(field)}[]"
            )
            params.append(literal if literal is not None else list(column))
        names = ", ".join(f"column{i}" for i in range(1, len(columns) + 1))
        return f"unnest({', '.join(slots)}) AS v({names})", params
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = [value for row in zip(*prepared, strict=True) for value in row]
    return f"(VALUES {', '.join([row] * len(objs))}) AS v", values


def array_param(field, values: list) -> tuple[str, str, object]:
    """One field's values as one array parameter of an `unnest(...)` (PostgreSQL):
    (the slot with its cast, the SQL reading an element named `name` from the unnest, the
    parameter). Prepared as get_db_prep_save would; a column of ints, short strings or
    aware datetimes goes as one text literal, anything else as a binary array."""
    column = _prepared(field, values)
    if type(field) is DateTimeField and all(
        value is None or (type(value) is datetime and value.tzinfo is not None) for value in column
    ):
        column = [None if value is None else value.isoformat() for value in column]
    literal = _short_literal(column)
    slot = "%s" if literal is not None else binary_slot()
    cast = "::jsonb" if isinstance(field, JSONField) else ""
    return f"{slot}::{_array_type(field)}[]", cast, literal if literal is not None else column


SHORT = 256  # characters: longer strings (the rendered bodies) go as binary arrays


def _short_literal(column) -> str | None:
    """PostgreSQL's text form of an array of ints, or of short strings (None is NULL): one
    string parameter for a column of ids, statuses or reasons, where psycopg's binary array
    dumper works element by element in Python. None: dump the column as a binary array."""
    if all(type(value) is int or value is None for value in column):
        return "{" + ",".join("NULL" if v is None else str(v) for v in column) + "}"
    if all(
        value is None or (type(value) is str and len(value) <= SHORT and "\x00" not in value)
        for value in column
    ):
        return (
            "{"
            + ",".join(
                "NULL"
                if value is None
                else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
                for value in column
            )
            + "}"
        )
    return None


def _prepared(field, column: list) -> list:
    """The column's values as get_db_prep_save would give them: as they are where every
    value's type is one it returns unchanged (one check for the column), else value by
    value."""
    same = _unchanged_types(field)
    if same and set(map(type, column)) <= same:
        return column
    convert = _converter(field)
    return [convert(value) for value in column]


def _unchanged_types(field) -> frozenset:
    if isinstance(field, JSONField) and connection.vendor == "postgresql":
        return frozenset()
    same = _kept(field)
    return frozenset((*same, type(None))) if same else frozenset()


def _converter(field):
    """field.get_db_prep_save for this connection, skipped where it changes nothing."""
    if isinstance(field, JSONField) and connection.vendor == "postgresql":
        return lambda value: json.dumps(field.get_prep_value(value), cls=field.encoder)
    aware = type(field) is DateTimeField and connection.vendor == "postgresql"
    same = _kept(field)
    if same or aware:
        same = (*same, type(None))  # None stays None (SQL NULL) for these fields

    def convert(value):
        if type(value) in same:
            return value
        if aware and type(value) is datetime and value.tzinfo is not None:
            return value  # what DateTimeField and PostgreSQL's adapter would hand psycopg
        return field.get_db_prep_save(value, connection)

    return convert


def _array_type(field) -> str:
    return "text" if isinstance(field, JSONField) else field.cast_db_type(connection)


def _column(field, index: int) -> str:
    if isinstance(field, JSONField) and connection.vendor == "postgresql":
        return f"v.column{index}::jsonb"
    return f"v.column{index}"
