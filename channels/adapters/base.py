"""The adapter shape: `kind`, `is_configured()`, `send(message) -> SendResult`.

`send` raises DeliveryError: `permanent` errors are never retried; `ambiguous` ones (the
provider may have accepted the message before the connection broke) are never retried
blindly either; the rest are retried with backoff by dispatch. `address_problem` tells
dispatch what the error proves about the address ("carrier_opt_out", "invalid_address").
"""

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SendResult:
    provider: str
    provider_message_id: str
    provider_status: str = ""


class DeliveryError(Exception):
    def __init__(
        self,
        code: str,
        text: str = "",
        *,
        permanent: bool,
        ambiguous: bool = False,
        address_problem: str = "",
    ):
        super().__init__(f"{code}: {text}" if text else code)
        self.code = str(code)
        self.text = text
        self.permanent = permanent
        self.ambiguous = ambiguous
        self.address_problem = address_problem


class Adapter:
    kind: str = ""  # the channel it serves: "email" or "sms"
    provider: str = ""

    def is_configured(self) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must say whether it is configured")

    def send(self, message) -> SendResult:
        raise NotImplementedError(f"{type(self).__name__} must implement send()")

    def sender_key(self) -> str:
        """The sending identity a provider's rate limit applies to."""
        return self.provider

    def rate_per_second(self) -> float:
        return 0.0  # no limit


@cache
def adapter_for(channel: str) -> Adapter:
    """The channel's adapter from CHANNEL_ADAPTERS, or its console adapter when unconfigured."""
    adapter = import_string(settings.CHANNEL_ADAPTERS[channel])()
    if adapter.is_configured():
        return adapter
    return import_string(settings.CHANNEL_CONSOLE_ADAPTERS[channel])()


@receiver(setting_changed)
def _forget_adapters(**kwargs) -> None:
    adapter_for.cache_clear()
