"""One adapter per provider; `adapter_for(channel)` picks the configured one (see base)."""

from channels.adapters.base import Adapter, DeliveryError, SendResult, adapter_for

__all__ = ["Adapter", "DeliveryError", "SendResult", "adapter_for"]
