"""One batch's decisions written back: holds, renders and the claim, in a few statements.

Runs inside dispatch's transaction, with the batch's profiles and messages locked. Each
message is changed in memory first (held, deferred, or rendered and marked sending); then
`claim` stores the holds with one conditional update, the short links with one insert,
and claims the allowed messages with one conditional update (queued/deferred -> sending)
that returns the ones it won.
"""

from datetime import datetime

from django.conf import settings

from channels.links import links_save
from channels.models import Message, MessageStatus
from channels.models.outbox import WAITING
from channels.rendering import RenderBatch, RenderError, render, texted_numbers
from channels.services.bulk import rows_update
from channels.services.results import alert_render_error
from compliance.services import normalise_address, profile_address
from profiles.imports.phones import parse_phone
from profiles.models import Channel, Profile

HOLD_FIELDS = ["status", "reason", "scheduled_for", "provider_error_text"]
CLAIM_FIELDS = [
    "status",
    "reason",
    "sending_started_at",
    "attempts",
    "to_address",
    "subject",
    "body_text",
    "body_html",
    "headers",
    "segments",
    "rendered_at",
]


class Batch:
    """The locked, due messages of one dispatch_many call and what was decided for them."""

    def __init__(self, *, now: datetime, profiles: dict[int, Profile], messages: list[Message]):
        self.now, self.profiles, self.messages = now, profiles, messages
        self.held: list[Message] = []
        self.allowed: list[Message] = []
        self.alerts: list[tuple[Message, str]] = []
        self.stored: set[int] = set()  # ids whose rows now hold what their objects hold
        self.addresses = {m.pk: _address(m) for m in messages}
        numbers = {
            self.addresses[m.pk]
            for m in messages
            if m.channel == Channel.SMS and m.rendered_at is None and self.addresses[m.pk]
        }
        self.rendering = RenderBatch(texted=texted_numbers(numbers) if numbers else set())

    def finish(self, message: Message, status: str, reason: str, *, text: str = "") -> None:
        message.status, message.reason = status, reason[:100]
        if text:
            message.provider_error_text = text
        self.held.append(message)

    def defer(self, message: Message, until: datetime, reason: str) -> None:
        message.status, message.scheduled_for, message.reason = (
            MessageStatus.DEFERRED,
            until,
            reason[:100],
        )
        self.held.append(message)

    def render(self, message: Message) -> bool:
        """Render (unless a retry already holds its text) and mark it sending; False if the
        template cannot make a compliant message (failed, with an admin alert)."""
        stored_address, message.to_address = message.to_address, self.addresses[message.pk]
        if message.rendered_at is None and message.template_id:
            try:
                rendered = render(message, message.profile, batch=self.rendering)
            except RenderError as error:
                message.to_address = stored_address  # finish() does not write it
                self.finish(message, MessageStatus.FAILED, error.code, text=str(error))
                self.alerts.append((message, str(error)))
                return False
            message.subject, message.body_text, message.body_html = (
                rendered.subject,
                rendered.body_text,
                rendered.body_html,
            )
            message.headers, message.segments = rendered.headers, rendered.segments
            message.rendered_at = self.now
        message.status, message.reason = MessageStatus.SENDING, ""
        message.sending_started_at = self.now
        message.attempts += 1
        self.allowed.append(message)
        return True


def _address(message: Message) -> str:
    raw = profile_address(message.profile, message.channel)
    if message.channel == Channel.SMS and raw and raw == raw.strip():
        # The import's phone check: phonenumbers' answer, with North American numbers
        # matched against their area code's patterns directly (~31 us saved a text).
        e164 = parse_phone(raw, settings.PHONE_DEFAULT_REGION)[0]
        if e164 is not None:
            return e164
    return normalise_address(address=raw, channel=message.channel)


def claim(batch: Batch) -> list[Message]:
    """Store the batch's holds and claim its allowed messages; returns the ones won."""
    if batch.held:
        batch.stored |= rows_update(batch.held, HOLD_FIELDS, status_in=WAITING)
    for message, text in batch.alerts:
        alert_render_error(message, text)
    if not batch.allowed:
        return []
    links_save(batch.rendering.links)
    won = rows_update(batch.allowed, CLAIM_FIELDS, status_in=WAITING)
    batch.stored |= won
    return [message for message in batch.allowed if message.pk in won]
