"""A claim: lease a batch of enrollments to this worker and load them with their profiles.

On PostgreSQL one statement picks the batch (SKIP LOCKED, so concurrent ticks take
different people), writes the lease and returns the rows with their profiles. Its
timestamps are read with psycopg's own loader: Django's parses every timestamptz in
Python, ~5 us a value, which was most of a row's cost (an enrollment and its profile hold
seven). Elsewhere (SQLite) the ORM claims inside an IMMEDIATE transaction, which
serialises claims.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Q

from journeys.models import Enrollment, EnrollmentStatus, Journey, JourneyStatus
from profiles.models import Profile

ACTIVE = EnrollmentStatus.ACTIVE


def claim_rows(
    *, limit: int, now: datetime, lease_until: datetime, token: str, ids: list[int] | None,
    due: bool,
) -> list[Enrollment]:  # fmt: skip
    """Up to `limit` active enrollments of active journeys that nobody else holds (the due
    ones, longest due first; with due=False, `ids` due or not), leased until `lease_until`
    under `token`, each with its profile loaded."""
    if connection.vendor == "postgresql":
        batch = _claim_postgres(limit, now, lease_until, token, ids, due)
    else:
        batch = _claim_orm(limit, now, lease_until, token, ids, due)
    return sorted(batch, key=lambda e: (e.next_run_at or now, e.pk))


def _claim_orm(limit, now, lease_until, token, ids, due) -> list[Enrollment]:
    with transaction.atomic():
        candidates = Enrollment.objects.filter(
            status=ACTIVE,
            journey__status=JourneyStatus.ACTIVE,
            **({"next_run_at__lte": now} if due else {}),
        ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        if ids is not None:
            candidates = candidates.filter(pk__in=ids)
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        picked = list(candidates.order_by("next_run_at").values_list("pk", flat=True)[:limit])
        Enrollment.objects.filter(pk__in=picked).update(lease_token=token, lease_until=lease_until)
    return list(
        Enrollment.objects.filter(pk__in=picked, lease_token=token).select_related("profile")
    )


def _claim_postgres(limit, now, lease_until, token, ids, due) -> list[Enrollment]:
    where = ["c.status = %s", "j.status = %s", "(c.lease_until IS NULL OR c.lease_until < %s)"]
    params: list = [token, lease_until, ACTIVE, JourneyStatus.ACTIVE, now]
    if due:
        where.append("c.next_run_at <= %s")
        params.append(now)
    if ids is not None:
        where.append("c.id = ANY(%s)")
        params.append(list(ids))
    # Given ids, no order: sorting by next_run_at would invite the planner to walk the due
    # index over every active enrollment instead of looking the ids up.
    order = "" if ids is not None else "ORDER BY c.next_run_at"
    sql = _CLAIM.format(where=" AND ".join(where), order=order)
    with connection.cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", _timestamp_loader())
        cursor.execute(sql, [*params, limit])
        rows = cursor.fetchall()
    return _build(rows)


def _columns(model, alias: str) -> str:
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


# The pick is an InitPlan whose ids the UPDATE looks up by primary key: joined as a
# subquery instead, the planner may hash-join it against a scan of the whole table (it did
# on a table whose statistics predate its updates: ~20 us an enrollment at 20,000 rows,
# growing with the table).
_CLAIM = (
    f"UPDATE {Enrollment._meta.db_table} AS e SET lease_token = %s, lease_until = %s "
    f"FROM {Profile._meta.db_table} AS p WHERE e.id = ANY(ARRAY("
    f"SELECT c.id FROM {Enrollment._meta.db_table} AS c "
    f"JOIN {Journey._meta.db_table} AS j ON j.id = c.journey_id WHERE {{where}} "
    "{order} LIMIT %s FOR UPDATE OF c SKIP LOCKED)) AND p.id = e.profile_id "
    f"RETURNING {_columns(Enrollment, 'e')}, {_columns(Profile, 'p')}"
)


@cache
def _timestamp_loader():
    """psycopg's default timestamptz loader (its C one when installed). The session runs in
    UTC (Django sets it), so values come back aware in UTC as Django's loader gives them."""
    oid = psycopg.postgres.types["timestamptz"].oid
    return psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)


def _build(rows: list[tuple]) -> list[Enrollment]:
    """Each row's Enrollment with its Profile cached on it: through each field's database
    converters (the JSON fields' decoding, the phone number's parsing) as the ORM would,
    then built as Model.from_db builds them, without Model.__init__'s per-field work
    (channels.services.rows.instances)."""
    from channels.services.rows import instances  # channels loads after the step registry

    wrapper = connections[DEFAULT_DB_ALIAS]
    offset = len(Enrollment._meta.concrete_fields)
    convert_enrollment = _converter(Enrollment, wrapper)
    convert_profile = _converter(Profile, wrapper)
    enrollments = instances(Enrollment, [convert_enrollment(row[:offset]) for row in rows],
                            db=wrapper.alias)  # fmt: skip
    profiles = instances(Profile, [convert_profile(row[offset:]) for row in rows],
                         db=wrapper.alias)  # fmt: skip
    cache = Enrollment.profile.field.set_cached_value
    for enrollment, profile in zip(enrollments, profiles, strict=True):
        cache(enrollment, profile)
    return enrollments


def _converter(model, wrapper):
    """values -> values through the model's fields' database converters. Made per batch:
    they hold this thread's connection."""
    fields = model._meta.concrete_fields
    converters = [
        (index, field, converter)
        for index, field in enumerate(fields)
        for converter in wrapper.ops.get_db_converters(field.get_col(model._meta.db_table))
        + field.get_db_converters(wrapper)
    ]

    def convert(values):
        values = list(values)
        for index, field, converter in converters:
            values[index] = converter(values[index], field, wrapper)
        return values

    return convert
