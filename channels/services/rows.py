"""Reading a batch's rows with less per-row work than the ORM's model iteration.

Dispatch reads a few hundred rows per batch (profiles, messages, their preferences), and
most of its read time went to per-row and per-value Python, not to PostgreSQL:

- `AnyOf` and `read_rows` (compliance.reads, whose batch reads use them too): `column =
  ANY(%s)` with one array literal on PostgreSQL instead of a 200-parameter `IN (...)` list,
  and a values_list read's SQL compiled once per connection.
- `instances`: model instances from `values_list` rows, exactly as `Model.from_db` builds
  them (the same attribute values, `_state.adding` False, `_state.db` set), without
  `Model.__init__`'s per-field setattr and signal sends. Used only for models with no
  pre_init/post_init receivers; a field whose attribute has its own setter (a phone number
  field) still goes through it.
- `fast_timestamps`: Django loads every `timestamptz` value through a Python subclass of
  psycopg's loader (~7 us a value, a regular expression per value); inside this context
  the connection uses psycopg's own C loader, which gives the same aware datetimes (UTC)
  when the session time zone is UTC, as Django sets it with USE_TZ. Restored on exit.
"""

import re
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import UTC
from functools import cache

from django.db import connection
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

from compliance.reads import AnyOf, read_rows

__all__ = [
    "AnyOf",
    "concrete_attnames",
    "fast_timestamps",
    "instances",
    "phone_from_db",
    "read_rows",
]


def concrete_attnames(model: type[Model]) -> list[str]:
    """The names to pass to values_list for `instances(model, ...)`: every concrete field."""
    return [field.attname for field in model._meta.concrete_fields]


def instances(model: type[Model], rows: Iterable[Sequence], *, db: str) -> list[Model]:
    """Model instances for values_list(*concrete_attnames(model)) rows, as from_db makes
    them."""
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return [model.from_db(db, None, row) for row in rows]
    names, setters = _layout(model)
    new = object.__new__
    built = []
    for row in rows:
        obj = new(model)
        state = obj._state = ModelState()
        obj.__dict__.update(zip(names, row, strict=True))
        for index, attname in setters:
            setattr(obj, attname, row[index])
        state.adding, state.db = False, db
        built.append(obj)
    return built


_LAYOUTS: dict = {}


def _layout(model: type[Model]) -> tuple[list[str], list[tuple[int, str]]]:
    """(attnames, the (index, attname) of fields whose class attribute is a setter of its
    own, not Django's plain deferred attribute)."""
    layout = _LAYOUTS.get(model)
    if layout is None:
        names = concrete_attnames(model)
        setters = []
        for index, name in enumerate(names):
            attribute = model.__dict__.get(name)
            if hasattr(attribute, "__set__") and not isinstance(attribute, DeferredAttribute):
                setters.append((index, name))
        layout = _LAYOUTS[model] = (names, setters)
    return layout


@contextmanager
def fast_timestamps():
    """psycopg's C timestamptz loader on this connection for the duration (see above)."""
    swapped = _swap_in()
    try:
        yield
    finally:
        if swapped is not None:
            adapters, oid, django_loader = swapped
            adapters.register_loader(oid, django_loader)


def _swap_in():
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        return None
    from django.db.backends.postgresql.base import is_psycopg3

    if not is_psycopg3:
        return None
    import psycopg
    from psycopg.types.datetime import TimestamptzLoader

    connection.ensure_connection()
    raw = connection.connection
    if raw.pgconn.parameter_status(b"TimeZone") != b"UTC":
        return None
    adapters = raw.adapters
    oid = adapters.types["timestamptz"].oid
    django_loader = adapters.get_loader(oid, psycopg.pq.Format.TEXT)
    if getattr(django_loader, "timezone", None) is not UTC:
        return None
    adapters.register_loader(oid, _utc_loader(TimestamptzLoader, oid))
    return adapters, oid, django_loader


_LOADERS: dict = {}


def _utc_loader(python_loader, oid: int):
    """A loader class with the `timezone` attribute Django reads off the connection's
    timestamptz loader (when it makes a cursor), loading through psycopg's C loader (what
    psycopg registers in place of its Python class when the C extension is installed)."""
    loader = _LOADERS.get(oid)
    if loader is None:
        import psycopg

        scratch = psycopg.adapt.AdaptersMap()
        scratch.register_loader(oid, python_loader)
        fast = scratch.get_loader(oid, psycopg.pq.Format.TEXT)

        class UtcTimestamptzLoader(psycopg.adapt.Loader):
            timezone = UTC

            def __init__(self, oid, context=None):
                super().__init__(oid, context)
                self.load = fast(oid, context).load

            def load(self, data):  # replaced per instance by the C loader's bound load
                raise NotImplementedError

        loader = _LOADERS[oid] = UtcTimestamptzLoader
    return loader


# A North American number in E.164 (what profiles store for US and Canadian numbers).
_NANP_E164 = re.compile(r"\+1[2-9]\d{2}[2-9]\d{6}")


def phone_from_db(value):
    """PhoneNumberField.from_db_value(value): phonenumbers parses every stored number again
    (~30 us). For a North American E.164 number the parse always gives the same attributes
    but the national number and the raw input (tests check this across every area code),
    so those numbers are built from that shape; any other value is parsed as before."""
    if type(value) is str and _NANP_E164.fullmatch(value):
        from phonenumber_field.phonenumber import PhoneNumber

        number = PhoneNumber.__new__(PhoneNumber)
        number.__dict__.update(_nanp_shape(), national_number=int(value[2:]), raw_input=value)
        return number
    from phonenumber_field.phonenumber import to_python

    return to_python(value)


@cache
def _nanp_shape() -> dict:
    """The attributes phonenumbers gives a parsed North American E.164 number (from
    phonenumbers itself, for one such number)."""
    from phonenumber_field.phonenumber import to_python

    return dict(to_python("+12025550123").__dict__)
