"""A claimed batch's writes, one statement each whatever its size: the enrollments' new
positions (guarded by the lease and the status) and the step log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from django.db import connection

from journeys.models import Enrollment, EnrollmentStatus, StepLog

ACTIVE = EnrollmentStatus.ACTIVE
FIELDS = ["status", "current_step", "step_started_at", "steps_taken", "next_run_at", "state",
          "exited_at", "exit_reason"]  # fmt: skip
_ARRAY_TYPES = {"CharField": "varchar", "SlugField": "varchar", "DateTimeField": "timestamptz",
                "PositiveIntegerField": "integer", "JSONField": "jsonb"}  # fmt: skip


class LogRow(NamedTuple):
    """One StepLog row, without a model instance per row."""

    enrollment_id: int
    journey_id: int
    step: str
    outcome: str
    reason: str
    at: datetime


def positions_save(enrollments: list[Enrollment]) -> None:
    """Store the new positions, each only if the lease is still ours and nobody ended the
    enrollment meanwhile (a goal event, an admin)."""
    tokens: dict[str, list[Enrollment]] = {}
    for enrollment in enrollments:
        tokens.setdefault(enrollment.lease_token, []).append(enrollment)
    for token, group in tokens.items():
        if connection.vendor == "postgresql":
            _update_postgres(token, group)
            continue
        for enrollment in group:
            enrollment.lease_token, enrollment.lease_until = "", None
        Enrollment.objects.filter(lease_token=token, status=ACTIVE).bulk_update(
            group, [*FIELDS, "lease_token", "lease_until"], batch_size=500
        )


def _update_postgres(token: str, group: list[Enrollment]) -> None:
    """UPDATE ... FROM unnest(one array per column)."""
    fields = [Enrollment._meta.get_field(name) for name in FIELDS]
    arrays = [[e.pk for e in group]] + [
        [_db_value(field, getattr(e, field.attname)) for e in group] for field in fields
    ]
    types = ["bigint"] + [_ARRAY_TYPES[field.get_internal_type()] for field in fields]
    sets = ", ".join(f"{f.column} = v.{f.column}" for f in fields)
    names = ", ".join(["id", *(f.column for f in fields)])
    unnest = ", ".join(f"%s::{kind}[]" for kind in types)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Enrollment._meta.db_table} AS e SET {sets}, lease_token = '', "
            f"lease_until = NULL FROM unnest({unnest}) AS v({names}) "
            "WHERE e.id = v.id AND e.lease_token = %s AND e.status = %s",
            [*arrays, token, ACTIVE],
        )


def _db_value(field, value):
    if field.get_internal_type() == "JSONField":
        return json.dumps(value, cls=field.encoder)
    return value


def logs_insert(rows: list[LogRow]) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql":
        StepLog.objects.bulk_create(StepLog(**row._asdict()) for row in rows)
        return
    columns = [StepLog._meta.get_field(name).column for name in LogRow._fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {StepLog._meta.db_table} ({', '.join(columns)}) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[], "
            "%s::varchar[], %s::timestamptz[])",
            [list(column) for column in zip(*rows, strict=True)],
        )
