"""How: templates, the outbox, tracked links, provider events and delivery alerts."""

from channels.models.outbox import Message, MessageStatus
from channels.models.templates import MessageTemplate
from channels.models.tracking import DeliveryAlert, Link, ProviderEvent

__all__ = [
    "DeliveryAlert",
    "Link",
    "Message",
    "MessageStatus",
    "MessageTemplate",
    "ProviderEvent",
]
