"""A fake email provider for the process race tests: each send appends a line to a file."""

import os

from channels.adapters.base import Adapter, SendResult


class RecordingEmailAdapter(Adapter):
    kind = "email"
    provider = "recording"

    def is_configured(self) -> bool:
        return True

    def send(self, message) -> SendResult:
        with open(os.environ["TANDEM_RECORD_FILE"], "a") as record:
            record.write(f"{message.pk}\n")
        return SendResult(self.provider, f"rec-{message.pk}-{os.getpid()}", "sent")
