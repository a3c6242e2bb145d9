"""`/healthz`: 200 when the database and the task broker answer, 503 otherwise."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers import get_broker

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any driver error means "not reachable"
        logger.exception("healthz: database check failed")
        return False


def _queue_ok() -> bool:
    try:
        return bool(get_broker().ping())
    except Exception:  # redis/ORM broker errors vary by backend
        logger.exception("healthz: queue broker check failed")
        return False


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_ok(), "queue": _queue_ok()}
    status = 200 if all(checks.values()) else 503
    body = {name: "ok" if ok else "unavailable" for name, ok in checks.items()}
    return JsonResponse({"status": "ok" if status == 200 else "unavailable", **body}, status=status)
