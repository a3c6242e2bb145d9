"""POST /webhooks/twilio/status/: Twilio's message status callbacks.

Verified first (X-Twilio-Signature over PUBLIC_BASE_URL + the full path, with the QueryDict
itself, primary then secondary token during rotation): 403 and nothing changed otherwise.
Deduplicated on (MessageSid, MessageStatus); a status never moves a message backwards
(Twilio's callbacks can arrive out of order: a late "sent" after "delivered").
"""

import logging

from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels.adapters.twilio_sms import ADDRESS_PROBLEMS
from channels.models import Message, MessageStatus, ProviderEvent
from channels.services.results import address_problem_apply
from channels.services.tracking import status_advance
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
    status_callback_apply(
        sid=sid,
        status=status,
        error_code=request.POST.get("ErrorCode", ""),
        error_text=request.POST.get("ErrorMessage", ""),
    )
    return HttpResponse(status=204)


def status_callback_apply(*, sid: str, status: str, error_code: str, error_text: str) -> bool:
    """Apply one callback once; returns False for a duplicate.

    The hot path is three statements: the message's id and status (not the whole row),
    then in one transaction the dedupe insert and the conditional status update.
    """
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
                _apply(pk, current, status, error_code, error_text)
    except IntegrityError:
        return False
    if pk is None:
        logger.info("twilio status %s for unknown MessageSid %s", status, sid)
    return True


def _apply(pk: int, current: str, status: str, error_code: str, error_text: str) -> None:
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
    )
    problem = ADDRESS_PROBLEMS.get(error_code, "")
    if ours == MessageStatus.FAILED and problem:
        address_problem_apply(Message.objects.get(pk=pk), problem, code=error_code)
