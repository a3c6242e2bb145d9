"""Helpers for tests that race real worker processes against PostgreSQL."""

import os
import time

import psycopg
import pytest
from django.db import connection


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: DATABASE_URL=postgres://...")


def database_url() -> str:
    """The URL of the test database pytest-django made, for child processes."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{db['USER']}{password}@{host}/{db['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": database_url(),
        **extra,
    }


def wait_until_blocked(count: int, what: str) -> None:
    """Until `count` other sessions wait on a lock (the racers reached their contended step)."""
    db = connection.settings_dict
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> %s"
    )
    own_pid = connection.connection.info.backend_pid
    params = {"dbname": db["NAME"], "user": db["USER"], "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432}  # fmt: skip
    with psycopg.connect(autocommit=True, **params) as watcher:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if watcher.execute(query, [own_pid]).fetchone()[0] >= count:
                return
            time.sleep(0.05)
    raise AssertionError(f"the {count} racers never all reached {what}")
