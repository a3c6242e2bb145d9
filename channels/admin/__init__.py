"""Admin: templates (live segment counter, preview, test send), the outbox, links, alerts."""

from channels.admin.outbox import DeliveryAlertAdmin, LinkAdmin, MessageAdmin
from channels.admin.templates import MessageTemplateAdmin

__all__ = ["DeliveryAlertAdmin", "LinkAdmin", "MessageAdmin", "MessageTemplateAdmin"]
