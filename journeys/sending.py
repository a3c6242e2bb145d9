"""How a journey's send step reaches the outbox: one message per (enrollment, step, visit).

The idempotency key makes a re-run (a crashed worker, a second cluster) find the message
already queued instead of queueing another; channels' dispatch claims it once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.models import Message, MessageStatus, MessageTemplate
from channels.models.outbox import WAITING
from channels.services import dispatch_many
from channels.services.outbox import message_create_many, recent_sends
from compliance.facts import decide_send

TEMPLATE_CACHE_SECONDS = 10
_TEMPLATES: dict[tuple[str, str], tuple[float, MessageTemplate | None]] = {}
GONE = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNKNOWN)
OUTCOMES = {
    MessageStatus.SUPPRESSED: "suppressed",
    MessageStatus.SKIPPED: "skipped",
    MessageStatus.CANCELLED: "skipped",
    MessageStatus.FAILED: "failed",
    MessageStatus.BOUNCED: "failed",
}


@dataclass(frozen=True)
class SendReport:
    outcome: str  # sent, suppressed, skipped, failed (the step goes on) or deferred (waits)
    reason: str
    waiting_until: datetime | None = None


def idempotency_key(ctx) -> str:
    enrollment = ctx.enrollment
    return f"journey:{enrollment.pk}:{ctx.spec.key}:{enrollment.steps_taken}"


@dataclass(frozen=True)
class Request:
    """A message a send step needs in the outbox: the engine queues a batch's in one go."""

    step: str
    fields: dict  # message_create's keywords


def queue(ctx, *, channel: str, template_key: str, expiry: timedelta) -> Message | Request | None:
    """The step's message if the batch has it; else the Request for it; None without a template.

    The engine queues the batch's requests together (a key queued before gives the message
    already there), dispatches the due ones and runs the steps again with the rows.
    """
    queued = ctx.state.get("queued", {}).get(ctx.spec.key)
    if queued in ctx.dispatched:
        return ctx.dispatched[queued]
    template = _template(template_key, channel)
    if template is None:
        return None
    return Request(ctx.spec.key, {
        "profile": ctx.profile,
        "idempotency_key": idempotency_key(ctx),
        "template": template,
        "context": ctx.enrollment.context.get("properties", {}),
        "expires_at": ctx.started_at + expiry,
        "source_kind": "journey",
        "source_id": ctx.enrollment.pk,
    })  # fmt: skip


def queue_many(asks: list[tuple]) -> dict[int, Message]:
    """Queue the (enrollment, Request) pairs' messages at once; each enrollment remembers its
    message's id. Returns the rows by id."""
    found = message_create_many(requests=[request.fields for _, request in asks])
    for enrollment, request in asks:
        message = found[request.fields["idempotency_key"]]
        enrollment.state.setdefault("queued", {})[request.step] = message.pk
    return {message.pk: message for message in found.values()}


def _template(key: str, channel: str) -> MessageTemplate | None:
    """Templates by key, kept a few seconds per process (dispatch re-reads what it renders)."""
    now = time.monotonic()
    found = _TEMPLATES.get((key, channel))
    if found is None or now - found[0] > TEMPLATE_CACHE_SECONDS:
        template = MessageTemplate.objects.filter(key=key, channel=channel).first()
        _TEMPLATES[(key, channel)] = found = (now, template)
    return found[1]


def is_due(message: Message, now: datetime) -> bool:
    return message.status in WAITING and (not message.scheduled_for or message.scheduled_for <= now)


def report(ctx, message: Message) -> SendReport:
    """What happened to the step's message (or its switched twin); remembered for waits."""
    if message.status == MessageStatus.CANCELLED:  # a cap may have switched it
        message = Message.objects.filter(switched_from=message).first() or message
    _remember(ctx, message)
    return _report(message, ctx.now)


def dispatch_batch(ids: list[int]) -> dict[int, Message]:
    """One dispatch for every message a batch of enrollments queued; the rows re-read."""
    return {message.pk: message for message in dispatch_many(messages=ids)}


def _remember(ctx, message: Message) -> None:
    messages = ctx.state.setdefault("messages", {})
    at = message.sent_at or message.sending_started_at or ctx.now
    messages[ctx.spec.key] = {"id": message.pk, "channel": message.channel, "at": at.isoformat()}


def _report(message: Message, now: datetime) -> SendReport:
    if message.status in GONE:
        via = f" by {message.channel}" if message.switched_from_id else ""
        return SendReport("sent", f"message {message.pk}{via}")
    if message.status in WAITING:
        until = message.scheduled_for or now + timedelta(minutes=5)
        return SendReport("deferred", message.reason or "queued", waiting_until=max(until, now))
    return SendReport(OUTCOMES.get(message.status, "failed"), message.reason or message.status)


def dry_run(ctx, channel: str) -> str:
    """What compliance would say about this send right now, without queueing anything."""
    template = MessageTemplate.objects.filter(key=ctx.spec.settings.get("template")).first()
    if template is None:
        return f"no template {ctx.spec.settings.get('template')!r}"
    decision = decide_send(
        profile=ctx.profile,
        channel=channel,
        category=template.category,
        topic=template.topic,
        at=ctx.now,
        recent_sends=recent_sends(profile=ctx.profile, at=ctx.now),
    )
    until = f" until {decision.until:%Y-%m-%d %H:%M} UTC" if decision.until else ""
    return f"would send {template.key}: {decision.outcome.value} ({decision.reason}){until}"


def cancel_escalations(*, enrollment, engaged_step: str, graph: dict) -> int:
    """Engagement with `engaged_step`'s message cancels queued sends that depend on it."""
    keys = [
        key
        for key, step in graph["steps"].items()
        if step["settings"].get("unless_engaged_with") == engaged_step
    ]
    ids = [m["id"] for k, m in enrollment.state.get("messages", {}).items() if k in keys]
    if not ids:
        return 0
    return Message.objects.filter(pk__in=ids, status__in=WAITING).update(
        status=MessageStatus.SKIPPED, reason=f"engaged_with_{engaged_step}"
    )
