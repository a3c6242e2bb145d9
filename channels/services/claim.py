"""One batch's decisions written back: holds, renders and the claim, in a few statements.

Runs inside dispatch's transaction, with the batch's profiles and messages locked. Each
message is changed in memory first (held, deferred, or rendered and marked sending); then
`claim` stores the holds with one conditional update, the short links with one insert,
and claims the allowed messages with one conditional update (queued/deferred -> sending)
that returns the ones it won.

On PostgreSQL the claim goes out while the batch is still being rendered (`Claims`): every
CLAIM_EVERY rendered messages, the insert of their short links and their claim UPDATE are
sent in psycopg's pipeline mode without waiting for the answers, so the server writes
them while this process renders the next ones (before, the two ran one after the other:
the worker waited on the UPDATE, the server on the worker). The answers are read at the
end. Nothing else changes, and this is why each guarantee holds:

- Same transaction. The pipelined statements run inside dispatch's transaction, after the
  profile and message locks and before its COMMIT; every answer is read (`finish`) before
  the commit, and a failed statement fails the transaction as before. So the claim
  (queued/deferred -> sending) is committed before any provider call, and a message whose
  claim was not won is not sent.
- Same statements. Each claim is the conditional UPDATE the whole batch used (status still
  queued/deferred, RETURNING the ids won), over a part of the batch: a redelivered task
  finds its messages in sending and sends nothing; a crash before the commit leaves them
  queued, after it in sending (the sweeper makes those unknown, never resent).
- Same decisions. Every message is decided with the profile locks held, in the same order,
  against the same recent sends; only the moment its row is written moves earlier.
- Only these two statements are pipelined, and neither can fail but for a real error (the
  links insert is ON CONFLICT DO NOTHING): the pipeline is closed, its answers read,
  before any other statement (a switch's new message, the holds, the alerts), so a
  savepoint or a caught error never happens inside it (a pipeline stays aborted after an
  error until its sync). A link a code collision left out is drawn again after that, and
  its message's body, already claimed with the old code, written again in the same
  transaction.
"""

from datetime import datetime

from django.conf import settings
from django.db import connection

from channels.links import links_redraw, links_save, links_save_start
from channels.models import Message, MessageStatus
from channels.models.outbox import WAITING
from channels.rendering import RenderBatch, RenderError, render, texted_numbers
from channels.services.bulk import rows_update, rows_update_start
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


CLAIM_EVERY = 50  # rendered messages a pipelined claim UPDATE carries (PostgreSQL)


class Claims:
    """The claim of a batch's allowed messages: on PostgreSQL (psycopg 3's pipeline mode)
    sent CLAIM_EVERY at a time, with their links' insert, while the rest are rendered, and
    every answer read at the end; elsewhere all at once at the end, as before."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.sent = 0  # batch.allowed[:sent] have their claim sent
        self.links_sent = 0  # batch.rendering.links[:links_sent] have their insert sent
        self.claims: list = []  # rows_update_start's readers, one per claim sent
        self.links: list = []  # links_save_start's readers
        self.pipeline = None  # open while statements are in flight
        self.early = _pipelines()

    def rendered(self) -> None:
        """After each message batch.render allowed: send a claim when enough are waiting."""
        if self.early and len(self.batch.allowed) - self.sent >= CLAIM_EVERY:
            if self.pipeline is None:
                self.pipeline = connection.connection.pipeline()
                self.pipeline.__enter__()
            self._send()

    def settle(self) -> None:
        """Close the pipeline (its answers arrive): before any other statement."""
        if self.pipeline is not None:
            pipeline, self.pipeline = self.pipeline, None
            pipeline.__exit__(None, None, None)

    def abandon(self, error: BaseException) -> None:
        """The batch failed: close the pipeline, its errors second to `error`."""
        if self.pipeline is not None:
            pipeline, self.pipeline = self.pipeline, None
            pipeline.__exit__(type(error), error, error.__traceback__)

    def _send(self) -> None:
        batch = self.batch
        messages, self.sent = batch.allowed[self.sent :], len(batch.allowed)
        links = batch.rendering.links[self.links_sent :]
        self.links_sent = len(batch.rendering.links)
        self.links.append(links_save_start(links))
        if messages:
            self.claims.append(rows_update_start(messages, CLAIM_FIELDS, status_in=WAITING))

    def finish(self) -> set[int]:
        """Claim what is left and read every answer: the ids won."""
        batch = self.batch
        if not batch.allowed:
            return set()
        if not self.early:
            links_save(batch.rendering.links)
            return rows_update(batch.allowed, CLAIM_FIELDS, status_in=WAITING)
        self._send()
        self.settle()
        left_out = [link for answer in self.links for link in answer()]
        won: set[int] = set()
        for answer in self.claims:
            won |= answer()
        if left_out:
            # A code collision (rare): the link is drawn again and its message's body
            # rewritten; that body went out with the claim, so it is written once more,
            # still inside this transaction (nobody saw the old one).
            links_redraw(left_out)
            rewritten = {link.message.pk: link.message for link in left_out}
            mine = [message for pk, message in rewritten.items() if pk in won]
            if mine:
                rows_update(mine, ["body_text"], status_in=[MessageStatus.SENDING])
        return won


def _pipelines() -> bool:
    """psycopg 3 on PostgreSQL (a libpq with pipeline mode): claims can go early."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.base import is_psycopg3

    if not is_psycopg3:
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()


def claim(batch: Batch, claims: Claims) -> list[Message]:
    """Store the batch's holds and claim its allowed messages (those `claims` has not sent
    yet); returns the ones won."""
    claims.settle()
    if batch.held:
        batch.stored |= rows_update(batch.held, HOLD_FIELDS, status_in=WAITING)
    for message, text in batch.alerts:
        alert_render_error(message, text)
    won = claims.finish()
    batch.stored |= won
    return [message for message in batch.allowed if message.pk in won]
