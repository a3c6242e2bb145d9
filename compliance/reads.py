"""Batch reads by id lists, with less per-query work: one array parameter, SQL compiled once.

A dispatch batch reads a dozen tables by the ids (or addresses) of a few hundred people.
Two costs of the ORM there were not PostgreSQL's:

- `pk__in=ids` writes a 200-parameter IN list that Django prepares and psycopg splits and
  quotes value by value (psycopg caches a query's parsing only up to 50 parameters).
  `AnyOf` writes `column = ANY(%s::bigint[])` (or text[]) with the ids as one array literal
  string on PostgreSQL, and the IN list elsewhere.
- compiling a values_list query of 35 columns took ~2 ms, more than running it. `read_rows`
  compiles a read once per connection, with a placeholder for each AnyOf array, and later
  runs the same SQL with the batch's arrays, converting the rows as the queryset would.
"""

from collections.abc import Callable

from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
from django.db.models import Lookup, QuerySet

# Columns whose values AnyOf passes as one array literal, and the literal's element type.
_ARRAY_TYPES = {
    **dict.fromkeys(("AutoField", "BigAutoField", "BigIntegerField", "IntegerField"), "bigint"),
    **dict.fromkeys(("ForeignKey", "OneToOneField"), "bigint"),
    **dict.fromkeys(("CharField", "TextField", "EmailField", "SlugField"), "text"),
}


class ArraySlot:
    """Stands for an array in a read compiled once (read_rows); AnyOf records its type."""

    def __init__(self, index: int):
        self.index, self.kind = index, None


class AnyOf(Lookup):
    """`lhs = ANY(array)` on PostgreSQL, `lhs IN (...)` elsewhere: filter(AnyOf(F("pk"), ids))."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        kind = _ARRAY_TYPES.get(self.lhs.output_field.get_internal_type())
        if isinstance(self.rhs, ArraySlot):
            if connection.vendor != "postgresql" or kind is None:
                raise ValueError("an array slot needs PostgreSQL and an int or text column")
            self.rhs.kind = kind
            return f"{lhs} = ANY(%s::{kind}[])", [*lhs_params, self.rhs]
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            literal = _array_literal(values, kind)
            if literal is not None:
                return f"{lhs} = ANY(%s::{kind}[])", [*lhs_params, literal]
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def _array_literal(values: list, kind: str | None) -> str | None:
    """PostgreSQL's text form of an array of ints or of strings, e.g. {1,2} or {"a","b\\"c"}
    (one string parameter: psycopg's list adaptation works element by element in Python);
    None for anything else."""
    if kind == "bigint" and all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    if kind == "text" and all(type(value) is str and "\x00" not in value for value in values):
        quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
        return '{"' + '","'.join(quoted) + '"}' if values else "{}"
    return None


def read_rows(key: str, build: Callable[..., QuerySet], *arrays: list) -> list[tuple]:
    """list(build(*arrays)) for a values_list queryset whose only varying parts are AnyOf
    arrays: on PostgreSQL its SQL is compiled once per connection (under `key`, which must
    name one shape of query) and run again with each call's arrays."""
    if connection.vendor != "postgresql":
        return list(build(*arrays))
    # Kept on this thread's connection object (django.db.connection is a proxy shared by
    # every thread): a compiler belongs to its connection.
    compiled = connections[connection.alias].__dict__.setdefault("_tandem_compiled_reads", {})
    entry = compiled.get(key)
    if entry is None:
        slots = [ArraySlot(index) for index in range(len(arrays))]
        queryset = build(*slots)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        if sorted(p.index for p in params if isinstance(p, ArraySlot)) != list(range(len(slots))):
            return list(build(*arrays))  # an array the compiled SQL does not hold once
        entry = compiled[key] = (sql, tuple(params), compiler)
    sql, params, compiler = entry
    bound = []
    for param in params:
        if isinstance(param, ArraySlot):
            param = _array_literal(list(arrays[param.index]), param.kind)
            if param is None:
                return list(build(*arrays))
        bound.append(param)
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        rows = cursor.fetchall()
    return list(compiler.results_iter(results=[rows], tuple_expected=True))
