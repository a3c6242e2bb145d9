"""POST /webhooks/twilio/status/: Twilio's message status callbacks.

Verified first (X-Twilio-Signature over PUBLIC_BASE_URL + the full path, with the QueryDict
itself, primary then secondary token during rotation): 403 and nothing changed otherwise.
Deduplicated on (MessageSid, MessageStatus); a status never moves a message backwards
(Twilio's callbacks can arrive out of order: a late "sent" after "delivered").
"""

import logging
from datetime import datetime
from functools import cache

from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels.adapters.twilio_sms import ADDRESS_PROBLEMS
from channels.models import Message, MessageStatus, ProviderEvent
from channels.models.outbox import STATUS_RANK
from channels.services.bulk import server_bound_cursor
from channels.services.results import address_problem_apply
from channels.services.tracking import STAMPS, status_advance
from channels.webhooks import inbox
from compliance.webhooks import is_signed_by_twilio

logger = logging.getLogger(__name__)

TWILIO_STATUSES = {
    "accepted": MessageStatus.SENT,
    "scheduled": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}


def signature_valid(request) -> bool:
    """The same check as the inbound webhook: over PUBLIC_BASE_URL, either token."""
    return is_signed_by_twilio(request)


@csrf_exempt
@require_POST
def status_callback(request):
    if not signature_valid(request):
        return HttpResponseForbidden("invalid signature")
    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    if not sid or not status:
        return HttpResponseBadRequest("MessageSid and MessageStatus are required")
    fields = {
        "sid": sid,
        "status": status,
        "error_code": request.POST.get("ErrorCode", ""),
        "error_text": request.POST.get("ErrorMessage", ""),
    }
    if inbox.enabled() and not _proves_address_problem(status, fields["error_code"]):
        try:
            inbox.accept(**fields)  # applied in a batch moments later (channels.webhooks.inbox)
            return HttpResponse(status=204)
        except Exception:  # Redis unreachable: apply it now rather than lose it
            logger.exception("could not queue a Twilio status callback; applying it now")
    status_callback_apply(**fields)
    return HttpResponse(status=204)


def _proves_address_problem(status: str, error_code: str) -> bool:
    return TWILIO_STATUSES.get(status) == MessageStatus.FAILED and error_code in ADDRESS_PROBLEMS


def status_callback_apply(
    *, sid: str, status: str, error_code: str, error_text: str, at: datetime | None = None
) -> bool:
    """Apply one callback once (`at`: when it was received); returns False for a duplicate.

    On PostgreSQL the hot path is one statement (see `_apply_in_one_statement`). Elsewhere,
    and for a failure that proves something about the address, it is three: the message's
    id and status (not the whole row), then in one transaction the dedupe insert and the
    conditional status update.
    """
    ours = TWILIO_STATUSES.get(status)
    problem = ADDRESS_PROBLEMS.get(error_code, "") if ours == MessageStatus.FAILED else ""
    if connection.vendor == "postgresql" and not problem:
        return _apply_in_one_statement(sid, status, ours, error_code, error_text, at)
    found = (
        Message.objects.filter(provider_message_id=sid, channel="sms")
        .order_by()
        .values_list("pk", "status")[:1]
    )
    pk, current = next(iter(found), (None, ""))
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(
                provider="twilio", key=f"{sid}:{status}", message_id=pk, kind=status
            )
            if pk is not None:
                _apply(pk, current, status, error_code, error_text, at)
    except IntegrityError:
        return False
    if pk is None:
        logger.info("twilio status %s for unknown MessageSid %s", status, sid)
    return True


def _apply(
    pk: int, current: str, status: str, error_code: str, error_text: str, at: datetime | None
) -> None:
    ours = TWILIO_STATUSES.get(status)
    if ours is None:
        return
    status_advance(
        pk=pk,
        current=current,
        status=ours,
        provider_status=status,
        error_code=error_code,
        error_text=error_text,
        at=at,
    )
    problem = ADDRESS_PROBLEMS.get(error_code, "")
    if ours == MessageStatus.FAILED and problem:
        address_problem_apply(Message.objects.get(pk=pk), problem, code=error_code)


def _apply_in_one_statement(
    sid: str, status: str, ours: str | None, error_code: str, error_text: str, at: datetime | None
) -> bool:
    """The dedupe insert and the status update as one statement, in one round trip.

    What the three-statement path does, and atomic by itself: the event is stored once per
    (MessageSid, MessageStatus) (ON CONFLICT DO NOTHING: a duplicate, or the same callback
    being stored concurrently, inserts nothing and so updates nothing), and the message
    only moves up the delivery ladder (its status, as the update finds it, must rank lower).
    """
    errors = bool(error_code or error_text)
    sql = _one_statement_sql(ours, errors, ours in STAMPS)
    params = {
        "sid": sid,
        "key": f"{sid}:{status}",
        "kind": status,
        "now": at or timezone.now(),
        "status": ours,
        "provider_status": status,
        "lower": [s for s, rank in STATUS_RANK.items() if ours and rank < STATUS_RANK[ours]],
        "error_code": error_code,
        "error_text": error_text[:5000],
    }
    with server_bound_cursor() as cursor:
        cursor.execute(sql, params)
        stored, pk = cursor.fetchone()
    if stored and pk is None:
        logger.info("twilio status %s for unknown MessageSid %s", status, sid)
    return bool(stored)


@cache
def _one_statement_sql(ours: str | None, errors: bool, stamp: bool) -> str:
    message, event = Message._meta.db_table, ProviderEvent._meta.db_table
    moved = ""
    if ours is not None:
        sets = ["status = %(status)s", "provider_status = %(provider_status)s"]
        if errors:
            sets += ["provider_error_code = %(error_code)s", "provider_error_text = %(error_text)s"]
        if stamp:
            sets.append(f"{STAMPS[ours]} = %(now)s")
        moved = f""", moved AS (
            UPDATE {message} AS m SET {", ".join(sets)}
            FROM event WHERE m.id = event.message_id AND m.status = ANY(%(lower)s)
            RETURNING m.id
        )"""
    return f"""
        WITH found AS (
            SELECT id FROM {message}
            WHERE provider_message_id = %(sid)s AND channel = 'sms' LIMIT 1
        ), event AS (
            INSERT INTO {event} (provider, key, message_id, kind, received_at)
            VALUES ('twilio', %(key)s, (SELECT id FROM found), %(kind)s, %(now)s)
            ON CONFLICT DO NOTHING
            RETURNING message_id
        ){moved}
        SELECT (SELECT count(*) FROM event), (SELECT id FROM found)
    """
