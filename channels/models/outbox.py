"""The outbox: one Message per intended send, its rendered content and its fate."""

import uuid

from django.db import models
from django.db.models import Q
from django.urls import reverse

from compliance.models import Category, Topic
from profiles.models import Channel, Event, Profile


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DEFERRED = "deferred", "Deferred"
    SUPPRESSED = "suppressed", "Suppressed"
    SKIPPED = "skipped", "Skipped"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    BOUNCED = "bounced", "Bounced"
    UNKNOWN = "unknown", "Unknown (left in sending)"
    CANCELLED = "cancelled", "Cancelled"


# Provider-facing progress; a callback may only move a message up this ladder.
STATUS_RANK = {
    MessageStatus.SENDING: 1,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.BOUNCED: 4,
}
WAITING = (MessageStatus.QUEUED, MessageStatus.DEFERRED)


def new_idempotency_key() -> str:
    return f"adhoc:{uuid.uuid4()}"


class Message(models.Model):
    # Every UPDATE of a message touches each of its indexes (status is in two index
    # predicates, so none is a HOT update) and dispatch updates each row twice: claimed,
    # then sent. So no index here is redundant: profile lookups use message_profile_time;
    # the unique key and the provider id are Meta entries, not unique=True/db_index=True,
    # which on PostgreSQL add a second, varchar_pattern_ops index for LIKE 'prefix%' that
    # nothing runs (admin search is icontains); the two mostly-NULL foreign keys index
    # their non-NULL values only (every lookup of them is by value).
    profile = models.ForeignKey(
        Profile, null=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    template = models.ForeignKey(
        "channels.MessageTemplate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
    )
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.MARKETING)
    # Indexed only where set (message_topic): most messages have no topic, and every index
    # a message is in costs its INSERT and each of dispatch's updates one more entry.
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.PROTECT,
                              db_index=False)  # fmt: skip
    to_address = models.CharField(max_length=254, blank=True, help_text="As sent.")
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField(blank=True, help_text="Text part, or the SMS as sent.")
    body_html = models.TextField("HTML body", blank=True)
    headers = models.JSONField(default=dict, blank=True)
    context = models.JSONField(
        default=dict, blank=True, help_text="Extra template variables (event properties)."
    )
    trigger_event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    status = models.CharField(
        max_length=20, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    reason = models.CharField(max_length=100, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="A deferral past this instant skips the message."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    provider = models.CharField(max_length=30, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    provider_status = models.CharField(max_length=30, blank=True)
    provider_error_code = models.CharField(max_length=30, blank=True)
    provider_error_text = models.TextField(blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, default=new_idempotency_key)
    # Journeys and broadcasts do not exist yet: a plain reference until they do.
    source_kind = models.CharField(
        max_length=30, blank=True, help_text="journey, broadcast, test, notify ..."
    )
    source_id = models.BigIntegerField(null=True, blank=True)
    source_step = models.BigIntegerField(null=True, blank=True)
    switched_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["profile", "-created_at"], name="message_profile_time"),
            models.Index(
                fields=["status", "scheduled_for"],
                condition=Q(status__in=["queued", "deferred"]),
                name="message_waiting",
            ),
            models.Index(
                fields=["sending_started_at"],
                condition=Q(status="sending"),
                name="message_sending",
            ),
            models.Index(fields=["to_address", "channel"], name="message_address"),
            # No index on (source_kind, source_id): nothing looks a message up by its source
            # (a journey's messages are found by id from the enrollment's state).
            models.Index(fields=["provider_message_id"], name="message_provider_id"),
            models.Index(
                fields=["trigger_event"],
                condition=Q(trigger_event__isnull=False),
                name="message_trigger_event",
            ),
            models.Index(fields=["topic"], condition=Q(topic__isnull=False), name="message_topic"),
            models.Index(
                fields=["switched_from"],
                condition=Q(switched_from__isnull=False),
                name="message_switched_from",
            ),
        ]
        constraints = [
            # The name PostgreSQL gave the unique=True this replaces (migration 0003).
            models.UniqueConstraint(
                fields=["idempotency_key"], name="channels_message_idempotency_key_key"
            ),
        ]

    def __str__(self) -> str:
        to = self.to_address or f"profile {self.profile_id}"  # the address is set when sent
        return f"{self.get_channel_display()} #{self.pk} to {to}"

    def get_absolute_url(self) -> str:
        return reverse("admin:channels_message_change", args=[self.pk])

    @property
    def is_waiting(self) -> bool:
        return self.status in WAITING
