"""How a journey's send step reaches the outbox: one message per (enrollment, step, visit).

The idempotency key makes a re-run (a crashed worker, a second cluster) find the message
already queued instead of queueing another; channels' dispatch claims it once.

Outbox first: the tick only queues. The due messages go to dispatch in django-q2 tasks
(`hand_off`, `journeys.tasks.dispatch_messages`), and each task runs on the enrollments
whose sends it settled. A send step waits for its task at most `handoff_wait()`: after
that the tick hands the message over again (a lost task strands nobody).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from channels.adapters import adapter_for
from channels.models import Message, MessageStatus, MessageTemplate
from channels.models.outbox import WAITING
from channels.services import dispatch_many
from channels.services.outbox import message_create_many, recent_sends
from compliance.decide import Outcome
from compliance.facts import decide_send
from journeys.models import Enrollment, EnrollmentStatus

logger = logging.getLogger(__name__)

TEMPLATE_CACHE_SECONDS = 10
# Ids per dispatch task: a few hundred keep the per-task cost (claim, broker round trip,
# the enrollments' run) small per message, and a task far inside django-q2's timeout.
HANDOFF_CHUNK = 250
# A paced sender (1 text a second on a long code) sends a task's texts one by one: its tasks
# hold what it sends in this many seconds, well inside the task timeout (300 s).
PACED_TASK_SECONDS = 120
HANDOFF_WAIT = timedelta(minutes=5)  # default; JOURNEYS_HANDOFF_WAIT_SECONDS overrides
SOURCE = "journey"
_TEMPLATES: dict[tuple[str, str], tuple[float, MessageTemplate | None]] = {}
GONE = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNKNOWN)
OUTCOMES = {
    MessageStatus.SUPPRESSED: "suppressed",
    MessageStatus.SKIPPED: "skipped",
    MessageStatus.CANCELLED: "skipped",
    MessageStatus.FAILED: "failed",
    MessageStatus.BOUNCED: "failed",
}
DRY_OUTCOMES = {  # a dry run's step outcome for compliance's decision now
    Outcome.ALLOW: "sent",
    Outcome.SWITCH: "sent",
    Outcome.DEFER: "deferred",
    Outcome.SKIP: "skipped",
    Outcome.SUPPRESS: "suppressed",
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
    already there) and runs the steps again with the rows.
    """
    queued = ctx.state.get("queued", {}).get(ctx.spec.key)
    if queued in ctx.outbox:
        return ctx.outbox[queued]
    template = _template(template_key, channel)
    if template is None:
        return None
    return Request(ctx.spec.key, {
        "profile": ctx.profile,
        "idempotency_key": idempotency_key(ctx),
        "template": template,
        "context": ctx.enrollment.context.get("properties", {}),
        "expires_at": ctx.started_at + expiry,
        "source_kind": SOURCE,
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


def handoff_wait(message: Message | None = None, now: datetime | None = None) -> timedelta:
    """How long a send step waits for its dispatch task before handing the message again:
    the setting, or as long as the message has already been due (behind a backlog, handing
    it again at once would only queue more tasks; a lost task still costs at most double)."""
    seconds = getattr(settings, "JOURNEYS_HANDOFF_WAIT_SECONDS", None)
    wait = timedelta(seconds=seconds) if seconds else HANDOFF_WAIT
    since = message and (message.scheduled_for or message.created_at)
    return max(wait, now - since) if since and now else wait


def hand_off(messages: list[Message]) -> int:
    """Queue dispatch tasks for these due messages, a chunk each; returns how many went.

    A broker that refuses leaves the messages queued: their steps hand them again after
    `handoff_wait()` (and channels' sweeper sends a queued message its task lost)."""
    from django_q.tasks import async_task

    handed = 0
    for chunk in _chunks(messages):
        try:
            async_task("journeys.tasks.dispatch_messages", chunk, task_name="journeys-dispatch")
        except Exception:
            logger.exception("could not hand %s journey messages to dispatch", len(chunk))
            continue
        handed += len(chunk)
    return handed


def _chunks(messages: list[Message]) -> list[list[int]]:
    chunks = []
    for channel in sorted({message.channel for message in messages}):
        ids = [message.pk for message in messages if message.channel == channel]
        size = HANDOFF_CHUNK
        if (rate := adapter_for(channel).rate_per_second()) > 0:
            size = max(1, min(size, int(rate * PACED_TASK_SECONDS)))
        chunks += [ids[start : start + size] for start in range(0, len(ids), size)]
    return chunks


def dispatch_handed(ids: list[int]) -> dict[int, Message]:
    """The dispatch task's send: the messages of enrollments that ended since they were
    queued are cancelled (a goal that came while the batch ran), the others dispatched.
    Returns the rows by id as they now stand."""
    _cancel_ended(ids)
    try:
        rows = dispatch_many(messages=ids)
    except Exception:  # one message must not hold the others back: each on its own
        logger.exception("dispatching %s journey messages at once failed", len(ids))
        rows = []
        for pk in ids:
            try:
                rows += dispatch_many(messages=[pk])
            except Exception:  # it stays queued; its step hands it again later
                logger.exception("dispatching journey message %s failed", pk)
    return {message.pk: message for message in rows}


def _cancel_ended(ids: list[int]) -> None:
    """Cancel the waiting ones whose enrollment is no longer active. Looked up by primary key
    only: a filter on status or source would let the planner pick an index that covers the
    whole outbox."""
    owners = {
        pk: owner
        for pk, kind, owner, status in Message.objects.filter(pk__in=ids)
        .order_by()
        .values_list("pk", "source_kind", "source_id", "status")
        if kind == SOURCE and status in WAITING
    }
    active = set(
        Enrollment.objects.filter(pk__in=set(owners.values()), status=EnrollmentStatus.ACTIVE)
        .order_by()
        .values_list("pk", flat=True)
    )  # fmt: skip
    if ended := [pk for pk, owner in owners.items() if owner not in active]:
        Message.objects.filter(pk__in=ended, status__in=WAITING).update(
            status=MessageStatus.CANCELLED, reason="journey_ended"
        )


def settled(rows: dict[int, Message], now: datetime) -> list[int]:
    """The enrollments whose messages dispatch has decided (sent, deferred, suppressed ...):
    their send steps can go on."""
    return list(dict.fromkeys(
        message.source_id for message in rows.values()
        if message.source_kind == SOURCE and message.source_id and not is_due(message, now)
    ))  # fmt: skip


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


def dry_run(ctx, channel: str, expiry: timedelta) -> tuple[str, str]:
    """(outcome, why): what compliance would say about this send right now, and what the
    step would record (a deferral past the step's expiry is a skip), queueing nothing."""
    template = MessageTemplate.objects.filter(key=ctx.spec.settings.get("template")).first()
    if template is None:
        return "failed", f"no template {ctx.spec.settings.get('template')!r}"
    decision = decide_send(
        profile=ctx.profile,
        channel=channel,
        category=template.category,
        topic=template.topic,
        at=ctx.now,
        recent_sends=recent_sends(profile=ctx.profile, at=ctx.now),
    )
    until = f" until {decision.until:%Y-%m-%d %H:%M} UTC" if decision.until else ""
    why = f"would send {template.key}: {decision.outcome.value} ({decision.reason}){until}"
    if decision.outcome == Outcome.DEFER and decision.until and decision.until > ctx.now + expiry:
        return "skipped", f"{why}, past the step's expiry"
    return DRY_OUTCOMES[decision.outcome], why


def cancel_escalations(*, enrollment, engaged_step: str, graph: dict) -> int:
    """Engagement with `engaged_step`'s message cancels queued sends that depend on it."""
    keys = [
        key
        for key, step in graph["steps"].items()
        if step["settings"].get("unless_engaged_with") == engaged_step
    ]
    ids = [m["id"] for k, m in enrollment.state.get("messages", {}).items() if k in keys]
    # A message handed to dispatch is remembered once dispatch settled it: until then, only
    # its id among the queued ones.
    ids += [pk for k, pk in enrollment.state.get("queued", {}).items() if k in keys]
    if not ids:
        return 0
    return Message.objects.filter(pk__in=ids, status__in=WAITING).update(
        status=MessageStatus.SKIPPED, reason=f"engaged_with_{engaged_step}"
    )
