"""After the claim: call the adapter and record what happened.

Transient errors go back to queued with a backoff (doubling, with jitter) and a django-q2
Schedule to retry; permanent ones are terminal and may change the address's standing
(Twilio 21610: a carrier opt-out on the ledger plus an admin alert; 21211/21614 and an
ESP's rejection: the address is suppressed as undeliverable). Ambiguous ones (a read
timeout: the provider may have taken it) become unknown, never resent blindly.
"""

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels.adapters import DeliveryError, SendResult, adapter_for
from channels.adapters.ratelimit import acquire
from channels.models import DeliveryAlert, Message, MessageStatus
from channels.models.tracking import AlertKind
from channels.services.bulk import rows_update
from compliance.models import ConsentAction, ConsentSource, SuppressionReason
from compliance.services import consent_record, suppression_add
from profiles.models import Channel

logger = logging.getLogger(__name__)
IN_FLIGHT = (MessageStatus.SENDING, MessageStatus.UNKNOWN)
MAX_BACKOFF = timedelta(hours=1)


SENT_FIELDS = [
    "status",
    "sent_at",
    "provider",
    "provider_message_id",
    "provider_status",
    "provider_error_code",
    "provider_error_text",
]
# A batch's successes are recorded together, at least this often, so a crash leaves few
# messages in sending (they become unknown, never resent) and a slow provider's early
# sends show as sent without waiting for the whole batch.
RECORD_EVERY = 100
RECORD_EVERY_SECONDS = 1.0


def send_claimed(message: Message) -> None:
    send_claimed_many([message])


def send_claimed_many(messages: list[Message]) -> set[int]:
    """Call each message's adapter; record successes in bulk, failures one by one. Returns
    the ids recorded as sent (their rows now hold exactly what their objects hold)."""
    recorded: set[int] = set()
    sent: list[Message] = []
    recorded_at = time.monotonic()
    for message in messages:
        adapter = adapter_for(message.channel)
        try:
            acquire(adapter.sender_key(), adapter.rate_per_second())
            result = adapter.send(message)
        except DeliveryError as error:
            failure_record(message, error)
            continue
        sent.append(_as_sent(message, result))
        if len(sent) >= RECORD_EVERY or time.monotonic() - recorded_at > RECORD_EVERY_SECONDS:
            recorded |= _record_sent(sent)
            sent, recorded_at = [], time.monotonic()
    return recorded | _record_sent(sent)


def _as_sent(message: Message, result: SendResult) -> Message:
    message.status, message.sent_at = MessageStatus.SENT, timezone.now()
    message.provider, message.provider_message_id = result.provider, result.provider_message_id
    message.provider_status = result.provider_status
    message.provider_error_code = message.provider_error_text = ""
    return message


def _record_sent(messages: list[Message]) -> set[int]:
    return rows_update(messages, SENT_FIELDS, status_in=IN_FLIGHT) if messages else set()


def failure_record(message: Message, error: DeliveryError) -> None:
    base = Message.objects.filter(pk=message.pk, status__in=IN_FLIGHT)
    errors = {"provider_error_code": error.code, "provider_error_text": error.text[:5000]}
    if error.ambiguous:
        base.update(status=MessageStatus.UNKNOWN, reason=f"ambiguous_{error.code}", **errors)
    elif not error.permanent and message.attempts < settings.DISPATCH_MAX_ATTEMPTS:
        retry_at = timezone.now() + backoff(message.attempts)
        base.update(
            status=MessageStatus.QUEUED,
            scheduled_for=retry_at,
            reason=f"retry_{error.code}",
            **errors,
        )
        retry_schedule(message, retry_at)
    else:
        reason = error.address_problem or (
            error.code if error.permanent else f"gave_up_{error.code}"
        )
        base.update(status=MessageStatus.FAILED, reason=reason[:100], **errors)
        address_problem_apply(message, error.address_problem, code=error.code)


def backoff(attempts: int) -> timedelta:
    """base * 2^(attempts-1), capped at an hour, with "equal jitter" (half to all of it)."""
    delay = timedelta(seconds=settings.DISPATCH_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    delay = min(delay, MAX_BACKOFF)
    return delay * random.uniform(0.5, 1.0)


def retry_schedule(message: Message, at) -> None:
    from django_q.models import Schedule

    # ONCE schedules are deleted by django-q2 after they run.
    Schedule.objects.create(
        name=f"retry message {message.pk} #{message.attempts}"[:100],
        func="channels.tasks.dispatch_message",
        args=repr((message.pk,)),
        schedule_type=Schedule.ONCE,
        next_run=at,
    )


def address_problem_apply(message: Message, problem: str, *, code: str) -> None:
    """What a provider's permanent error proves about the address, recorded where it lasts."""
    if not problem or not message.to_address:
        return
    evidence = {"message": message.pk, "provider_error": code, "provider": message.provider}
    with transaction.atomic():
        if problem == "carrier_opt_out":
            _carrier_opt_out(message, evidence)
        elif problem == "invalid_address":
            suppression_add(
                address=message.to_address,
                channel=message.channel,
                reason=SuppressionReason.INVALID_ADDRESS,
                source=ConsentSource.BOUNCE,
                evidence=evidence,
            )


def _carrier_opt_out(message: Message, evidence: dict) -> None:
    consent_record(
        profile=message.profile,
        channel=Channel.SMS,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.CARRIER,
        address=message.to_address,
        evidence=evidence,
        idempotency_key=f"channels:carrier-opt-out:{message.pk}",
    )
    DeliveryAlert.objects.create(
        kind=AlertKind.CARRIER_OPT_OUT,
        message=message,
        profile=message.profile,
        channel=message.channel,
        address=message.to_address,
        text=(
            "Twilio refused the send with 21610: the number had opted out with the carrier "
            "or Twilio, yet our consent check allowed it. The opt-out is now on the ledger; "
            "check how this number's consent was recorded."
        ),
    )
    logger.warning("carrier opt-out (21610) for message %s", message.pk)


def alert_render_error(message: Message, text: str) -> None:
    DeliveryAlert.objects.create(
        kind=AlertKind.RENDER_ERROR,
        message=message,
        profile=message.profile,
        channel=message.channel,
        address=message.to_address,
        text=text[:5000],
    )
