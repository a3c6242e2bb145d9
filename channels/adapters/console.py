"""Console adapters: used when a provider has no credentials. Nothing leaves the machine;
the rendered message stays in the admin outbox and a line goes to the log."""

import logging
import uuid

from channels.adapters.base import Adapter, SendResult

logger = logging.getLogger("channels.console")


class ConsoleAdapter(Adapter):
    provider = "console"

    def is_configured(self) -> bool:
        return True

    def send(self, message) -> SendResult:
        summary = message.subject or message.body_text[:60]
        logger.info("console %s #%s to %s: %s", self.kind, message.pk, message.to_address, summary)
        return SendResult(
            provider=self.provider,
            provider_message_id=f"console-{uuid.uuid4().hex}",
            provider_status="sent",
        )


class ConsoleEmailAdapter(ConsoleAdapter):
    kind = "email"


class ConsoleSmsAdapter(ConsoleAdapter):
    kind = "sms"
