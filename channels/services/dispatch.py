"""dispatch: decide, render, claim, send, record. The only way to a provider.

Inside one transaction, holding the profile's row lock (the lock consent_record takes, so
a STOP and a send never interleave, and two sends to one person see each other for the
caps): re-read the message, ask compliance, render, and claim it with a conditional
update from queued/deferred to sending. The provider call happens after that commit, so
no transaction waits on the network; a redelivered task finds the message claimed and
sends nothing.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from channels.models import Message, MessageStatus
from channels.models.outbox import WAITING
from channels.rendering import RenderError, render
from channels.services.outbox import message_create, recent_sends
from channels.services.results import alert_render_error, send_claimed
from compliance.decide import Decision, Outcome, decide_send
from compliance.services import normalise_address, profile_address
from profiles.models import Profile

FINAL_BY_OUTCOME = {
    Outcome.SKIP: MessageStatus.SKIPPED,
    Outcome.SUPPRESS: MessageStatus.SUPPRESSED,
}


def dispatch(*, message: Message) -> Message:
    """Send the message if it is due and allowed; return it with its new status."""
    claimed, follow_up = _decide_and_claim(message.pk, timezone.now())
    if claimed is not None:
        send_claimed(claimed)
    if follow_up is not None:
        dispatch(message=follow_up)
    return Message.objects.get(pk=message.pk)


def _decide_and_claim(pk: int, now: datetime) -> tuple[Message | None, Message | None]:
    with transaction.atomic():
        profile_id = Message.objects.filter(pk=pk).values_list("profile_id", flat=True).get()
        if profile_id is None:
            _finish(pk, MessageStatus.SKIPPED, "no_profile")
            return None, None
        # Lock order everywhere: the profile, then its messages.
        profile = Profile.objects.select_for_update().get(pk=profile_id)
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("template", "topic", "trigger_event")
            .get(pk=pk)
        )
        if not _is_due(message, now):
            return None, None
        return _decide(message, profile, now)


def _is_due(message: Message, now: datetime) -> bool:
    if message.status not in WAITING:
        return False
    return message.scheduled_for is None or message.scheduled_for <= now


def _decide(message: Message, profile: Profile, now: datetime):
    if message.expires_at and now >= message.expires_at:
        _finish(message.pk, MessageStatus.SKIPPED, "expired")
        return None, None
    decision = decide_send(
        profile=profile,
        channel=message.channel,
        category=message.category,
        topic=message.topic,
        at=now,
        recent_sends=recent_sends(profile=profile, at=now, exclude=message.pk),
    )
    if decision.outcome == Outcome.SWITCH:
        return None, _switch(message, decision)
    if not decision.allowed:
        _hold(message, decision, now)
        return None, None
    return _render_and_claim(message, profile, now), None


def _hold(message: Message, decision: Decision, now: datetime) -> None:
    if decision.outcome != Outcome.DEFER:
        _finish(message.pk, FINAL_BY_OUTCOME[decision.outcome], decision.reason)
        return
    until = decision.until or now + timedelta(minutes=5)
    if message.expires_at and until >= message.expires_at:
        _finish(message.pk, MessageStatus.SKIPPED, f"expired_while_deferred:{decision.reason}")
        return
    # decide already spreads quiet-hour releases over the first minutes of the window.
    Message.objects.filter(pk=message.pk, status__in=WAITING).update(
        status=MessageStatus.DEFERRED, scheduled_for=until, reason=decision.reason
    )


def _switch(message: Message, decision: Decision) -> Message | None:
    """A cap moved the message to the other channel: the template's switch twin, once."""
    twin = message.template.switch_template if message.template_id else None
    if twin is None or message.switched_from_id is not None:
        _finish(message.pk, MessageStatus.SKIPPED, f"{decision.reason}:no_switch_template")
        return None
    _finish(message.pk, MessageStatus.CANCELLED, f"switched_to_{decision.channel}")
    return message_create(
        profile=message.profile,
        template=twin,
        idempotency_key=f"{message.idempotency_key}:switch",
        context=message.context,
        trigger_event=message.trigger_event,
        expires_at=message.expires_at,
        source_kind=message.source_kind,
        source_id=message.source_id,
        source_step=message.source_step,
        switched_from=message,
    )


def _render_and_claim(message: Message, profile: Profile, now: datetime) -> Message | None:
    raw = profile_address(profile, message.channel)
    message.to_address = normalise_address(address=raw, channel=message.channel)
    fields = {"to_address": message.to_address}
    if message.rendered_at is None:
        try:
            fields.update(_rendered_fields(message, profile, now))
        except RenderError as error:
            _finish(message.pk, MessageStatus.FAILED, error.code, text=str(error))
            alert_render_error(message, str(error))
            return None
    claimed = Message.objects.filter(pk=message.pk, status__in=WAITING).update(
        status=MessageStatus.SENDING,
        sending_started_at=now,
        attempts=F("attempts") + 1,
        reason="",
        **fields,
    )
    if claimed != 1:
        return None
    return Message.objects.select_related("profile").get(pk=message.pk)


def _rendered_fields(message: Message, profile: Profile, now: datetime) -> dict:
    if message.template_id is None:
        return {}
    rendered = render(message, profile)
    return {
        "subject": rendered.subject,
        "body_text": rendered.body_text,
        "body_html": rendered.body_html,
        "headers": rendered.headers,
        "segments": rendered.segments,
        "rendered_at": now,
    }


def _finish(pk: int, status: str, reason: str, *, text: str = "") -> None:
    fields = {"status": status, "reason": reason[:100]}
    if text:
        fields["provider_error_text"] = text
    Message.objects.filter(pk=pk, status__in=WAITING).update(**fields)
