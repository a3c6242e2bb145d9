"""anymail's `tracking` signal: ESP delivery and engagement events, normalised by anymail.

anymail's own views (mounted at /webhooks/anymail/) verify the request (basic auth with
ANYMAIL["WEBHOOK_SECRET"], plus the ESP's signature where it has one) before the signal
fires. Here: once per event_id, update the message, put engagement on the timeline and
apply consent (COMPLIANCE.md, Email): unsubscribed -> email opt-out (esp_unsubscribe),
complained -> opt-out from a complaint (suppresses marketing email), a bounce or rejection
for an invalid or bounced address -> suppression; subscribed is never consent.
"""

import logging

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from django.db import IntegrityError, transaction

from channels.models import Message, MessageStatus, ProviderEvent
from channels.services import engagement_record, message_status_advance
from channels.services.tracking import opened_or_clicked
from compliance.models import ConsentAction, ConsentSource, SuppressionReason
from compliance.services import consent_record, normalise_address, suppression_add
from profiles.identity import IdentityError
from profiles.models import Channel, Profile

logger = logging.getLogger(__name__)

STATUS_BY_EVENT = {
    EventType.QUEUED: MessageStatus.SENT,
    EventType.SENT: MessageStatus.SENT,
    EventType.DELIVERED: MessageStatus.DELIVERED,
    EventType.REJECTED: MessageStatus.FAILED,
    EventType.FAILED: MessageStatus.FAILED,
    EventType.BOUNCED: MessageStatus.BOUNCED,
}
# Timeline event names (with channel "email") for these anymail event types.
ENGAGEMENT = {
    EventType.DELIVERED: "delivered",
    EventType.BOUNCED: "bounced",
    EventType.OPENED: "opened",
    EventType.CLICKED: "clicked",
    EventType.COMPLAINED: "complained",
    EventType.UNSUBSCRIBED: "unsubscribed",
}
UNDELIVERABLE = {RejectReason.INVALID, RejectReason.BOUNCED}


def on_tracking(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    tracking_event_apply(event=event, esp_name=esp_name)


def event_key(event: AnymailTrackingEvent) -> str:
    if event.event_id:
        return str(event.event_id)[:255]
    # Some ESPs give no id for some events (Postmark opens): the event's own facts.
    when = event.timestamp.isoformat() if event.timestamp else ""
    return f"{event.message_id}:{event.event_type}:{when}:{event.click_url or ''}"[:255]


def find_message(event: AnymailTrackingEvent) -> Message | None:
    ours = (event.metadata or {}).get("tandem_message_id")
    if ours and str(ours).isdigit():
        message = Message.objects.filter(pk=int(ours), channel=Channel.EMAIL).first()
        if message:
            return message
    if not event.message_id:
        return None
    return Message.objects.filter(provider_message_id=event.message_id, channel="email").first()


def tracking_event_apply(*, event: AnymailTrackingEvent, esp_name: str) -> bool:
    """Apply one ESP event once; returns False for a duplicate."""
    message = find_message(event)
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(
                provider=f"anymail:{esp_name}"[:30],
                key=event_key(event),
                message=message,
                kind=event.event_type,
            )
            if message is not None:
                _apply_to_message(message, event)
            _apply_to_address(message, event)
    except IntegrityError:
        return False
    return True


def is_machine_open(event: AnymailTrackingEvent) -> bool:
    """Opens the ESP marks as machine-made (Apple Mail Privacy Protection and the like)."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if raw.get("sg_machine_open") in (True, "true"):  # SendGrid
        return True
    client = (raw.get("event-data") or {}).get("client-info") or {}
    return bool(client.get("bot"))  # Mailgun


def _apply_to_message(message: Message, event: AnymailTrackingEvent) -> None:
    status = STATUS_BY_EVENT.get(event.event_type)
    if status is not None:
        message_status_advance(
            message=message,
            status=status,
            provider_status=event.event_type,
            error_code=event.reject_reason or "",
            error_text=event.mta_response or event.description or "",
            at=event.timestamp,
        )
    name = ENGAGEMENT.get(event.event_type)
    if name is None:
        return
    properties, key = {"esp_event_id": event.event_id or ""}, f"{name}:{message.pk}"
    if event.event_type == EventType.OPENED:
        machine = is_machine_open(event)
        properties["machine_open"] = machine
        key = f"{key}:{'machine' if machine else 'human'}"
        if not machine:
            opened_or_clicked(message, "opened", event.timestamp)
    elif event.event_type == EventType.CLICKED:
        properties["url"] = event.click_url or ""
        opened_or_clicked(message, "clicked", event.timestamp)
    engagement_record(
        message=message, name=name, key=key, properties=properties, occurred_at=event.timestamp
    )


def _recipient(message: Message | None, event: AnymailTrackingEvent) -> str:
    raw = event.recipient or (message.to_address if message else "")
    try:
        return normalise_address(address=raw, channel=Channel.EMAIL) if raw else ""
    except IdentityError:
        return ""


def _apply_to_address(message: Message | None, event: AnymailTrackingEvent) -> None:
    address = _recipient(message, event)
    if not address:
        return
    evidence = {"esp_event_id": event.event_id or "", "event": event.event_type}
    if message is not None:
        evidence["message"] = message.pk
    if event.event_type in (EventType.UNSUBSCRIBED, EventType.COMPLAINED):
        source = (
            ConsentSource.COMPLAINT
            if event.event_type == EventType.COMPLAINED
            else ConsentSource.ESP_UNSUBSCRIBE
        )
        profile = message.profile if message else Profile.objects.filter(email=address).first()
        consent_record(
            profile=profile,
            channel=Channel.EMAIL,
            action=ConsentAction.OPT_OUT,
            source=source,
            address=address,
            evidence=evidence,
        )
    elif _is_undeliverable(event):
        suppression_add(
            address=address,
            channel=Channel.EMAIL,
            reason=SuppressionReason.HARD_BOUNCE,
            source=ConsentSource.BOUNCE,
            evidence=evidence,
        )


def _is_undeliverable(event: AnymailTrackingEvent) -> bool:
    if event.event_type not in (EventType.BOUNCED, EventType.REJECTED):
        return False
    if event.reject_reason in UNDELIVERABLE:
        return True
    # ESPs that leave bounces unclassified (SendGrid) report soft ones as "deferred"; its
    # "blocked" bounces are the receiving server's policy, not a dead address.
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    return (
        event.event_type == EventType.BOUNCED
        and event.reject_reason is None
        and raw.get("type") != "blocked"
    )
