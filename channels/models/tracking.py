"""Tracked short links, processed provider events and delivery alerts."""

import secrets
import string

from django.conf import settings
from django.db import models
from django.urls import reverse

from profiles.models import Channel, Profile

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 7


# Random bytes below this map evenly onto the alphabet (byte % 62); the rest are redrawn.
_EVEN_BELOW = 256 - 256 % len(CODE_ALPHABET)


def new_link_code() -> str:
    """CODE_LENGTH characters, each drawn uniformly from CODE_ALPHABET by `secrets` (one
    token_bytes call, not one secrets.choice per character)."""
    chars: list[str] = []
    while len(chars) < CODE_LENGTH:
        chars += [
            CODE_ALPHABET[byte % len(CODE_ALPHABET)]
            for byte in secrets.token_bytes(CODE_LENGTH + 2)
            if byte < _EVEN_BELOW
        ]
    return "".join(chars[:CODE_LENGTH])


class Link(models.Model):
    """A short link on our own domain standing for one URL in one message."""

    code = models.CharField(max_length=16, unique=True, default=new_link_code)
    message = models.ForeignKey("channels.Message", on_delete=models.CASCADE, related_name="links")
    url = models.URLField(max_length=2000)
    clicks = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"/l/{self.code} -> {self.url}"

    @property
    def short_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}{reverse('channels:link', args=[self.code])}"


class ProviderEvent(models.Model):
    """A provider callback already processed: retries and duplicates change nothing."""

    provider = models.CharField(max_length=30)
    key = models.CharField(max_length=255, help_text="Event id, or (MessageSid:status).")
    message = models.ForeignKey(
        "channels.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=30, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "key"], name="provider_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.key}"


class AlertKind(models.TextChoices):
    CARRIER_OPT_OUT = "carrier_opt_out", "Carrier opt-out (Twilio 21610) reached the provider"
    UNDELIVERABLE = "undeliverable", "Address undeliverable"
    RENDER_ERROR = "render_error", "Template failed to render"


class DeliveryAlert(models.Model):
    """Something an operator must look at: our own checks should have prevented it."""

    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    message = models.ForeignKey(
        "channels.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=254, blank=True)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.address}"
