"""May we: topics, current consent, the append-only consent ledger, suppressions."""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

from profiles.models import Channel, Profile


def _set_only(*fields: tuple[str, str]) -> list[models.Index]:
    """Indexes of nullable foreign keys over the rows where they are set: a lookup by one
    (the delete of a topic, a disclosure text, a user) never asks for NULL."""
    return [
        models.Index(fields=[name], condition=Q(**{f"{name}__isnull": False}), name=index)
        for name, index in fields
    ]


class Category(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    TRANSACTIONAL = "transactional", "Transactional"


class ConsentStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    PENDING = "pending", "Pending confirmation"
    NEVER = "never", "Never subscribed"


class ConsentAction(models.TextChoices):
    OPT_IN = "opt_in", "Opt in"
    OPT_OUT = "opt_out", "Opt out"
    PENDING = "pending", "Double opt-in requested"


class ConsentSource(models.TextChoices):
    SIGNUP_FORM = "signup_form", "Sign-up form"
    DOUBLE_OPT_IN = "double_opt_in", "Double opt-in confirmed"
    PREFERENCE_CENTRE = "preference_centre", "Preference centre"
    ONE_CLICK = "one_click", "One-click unsubscribe"
    SMS_KEYWORD = "sms_keyword", "SMS keyword"
    IMPORT = "import", "Import"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    ESP_UNSUBSCRIBE = "esp_unsubscribe", "ESP unsubscribe"
    COMPLAINT = "complaint", "Spam complaint"
    BOUNCE = "bounce", "Bounce"
    CARRIER = "carrier", "Carrier opt-out"


# What the person did themselves: only these may lift an opt-out or a suppression.
PERSON_SOURCES = frozenset(
    {
        ConsentSource.DOUBLE_OPT_IN,
        ConsentSource.PREFERENCE_CENTRE,
        ConsentSource.SMS_KEYWORD,
    }
)


class Topic(models.Model):
    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.MARKETING)
    is_default = models.BooleanField(
        default=True, help_text="Subscribers to the channel receive this topic unless they opt out."
    )
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class DisclosureText(models.Model):
    """The exact consent wording shown to a person, stored whole, one row per version."""

    key = models.SlugField(max_length=50, help_text="e.g. signup-sms")
    version = models.PositiveIntegerField()
    channel = models.CharField(max_length=10, choices=Channel.choices)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="disclosure_key_version")
        ]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


class ConsentEvent(models.Model):
    """The ledger: every consent change ever asked for, applied or not. Never edited."""

    # Indexed by consent_profile_time (profile first): a profile-only index would be a copy.
    profile = models.ForeignKey(
        Profile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="consent_events",
        db_index=False,
    )
    address = models.CharField(max_length=254, help_text="Email or E.164 number as it was")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # topic, disclosure and actor are empty on most rows (every import row): their indexes
    # hold only the rows that have one (see Meta), which is all a lookup by them reads.
    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.PROTECT, db_index=False
    )
    action = models.CharField(max_length=20, choices=ConsentAction.choices)
    source = models.CharField(max_length=30, choices=ConsentSource.choices)
    evidence = models.JSONField(default=dict, blank=True)
    disclosure = models.ForeignKey(
        DisclosureText, null=True, blank=True, on_delete=models.PROTECT, db_index=False
    )
    applied = models.BooleanField(
        default=True,
        help_text="False when the request was refused, e.g. an import opt-in "
        "after the person opted out.",
    )
    outcome = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["profile", "-occurred_at"], name="consent_profile_time"),
            models.Index(fields=["address", "channel"], name="consent_address"),
            *_set_only(("topic", "consent_topic"), ("disclosure", "consent_disclosure"),
                       ("actor", "consent_actor")),
        ]  # fmt: skip
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="consent_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.channel} {self.address} ({self.source})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("the consent ledger is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("the consent ledger is append-only")


class Subscription(models.Model):
    """Current consent per profile x channel x topic (no topic = the whole channel).

    Derived from the ledger by `consent_record`; never written anywhere else.
    """

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="subscriptions")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Empty on channel-level rows (all an import writes); indexed where set (see Meta).
    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.CASCADE, db_index=False
    )
    status = models.CharField(max_length=20, choices=ConsentStatus.choices)
    source = models.CharField(max_length=30, choices=ConsentSource.choices)
    # No database constraint and no index: the ledger is append-only (an event is never
    # deleted, so the pointer cannot dangle), and the subscription is written in the same
    # statement as its event (RETURNING id). The constraint's check cost a trigger and an
    # index probe a subscription at commit (~4 us a new profile in an import), the index one
    # more insert; the only lookup by it would be Django's PROTECT when deleting events.
    last_event = models.ForeignKey(
        ConsentEvent,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    updated_at = models.DateTimeField()

    class Meta:
        indexes = _set_only(("topic", "subscription_topic"))
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "channel", "topic"],
                name="subscription_unique_topic",
                condition=Q(topic__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["profile", "channel"],
                name="subscription_unique_channel",
                condition=Q(topic__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        scope = self.topic.key if self.topic_id else "all"
        return f"{self.profile} {self.channel}/{scope}: {self.status}"


class SuppressionReason(models.TextChoices):
    SMS_STOP = "sms_stop", "STOP keyword"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Spam complaint"
    CARRIER_OPT_OUT = "carrier_opt_out", "Carrier opt-out (Twilio 21610)"
    INVALID_ADDRESS = "invalid_address", "Invalid or undeliverable address"
    ERASURE = "erasure", "Erased on request (hashed)"


class Suppression(models.Model):
    """Address-level block that outlives profiles; lifted (never deleted) only by the person."""

    address = models.CharField(max_length=254)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    reason = models.CharField(max_length=30, choices=SuppressionReason.choices)
    source = models.CharField(max_length=30, choices=ConsentSource.choices)
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by_event = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["address", "channel"], name="suppression_address")]
        constraints = [
            models.UniqueConstraint(
                fields=["address", "channel", "reason"],
                condition=Q(lifted_at__isnull=True),
                name="suppression_one_active_per_reason",
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.channel}): {self.get_reason_display()}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class ContactPreference(models.Model):
    """What the person chose on the preference centre beyond consent, and their link key.

    `token_version` is part of every signed link to the person's hosted pages; raising it
    (admin action "rotate links") makes all earlier links stop working.
    """

    profile = models.OneToOneField(Profile, on_delete=models.CASCADE, related_name="preference")
    primary_channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    paused_until = models.DateTimeField(
        null=True, blank=True, help_text="No marketing on any channel until then."
    )
    token_version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Preferences of {self.profile}"


class CapKind(models.TextChoices):
    COUNT = "count", "At most N messages per rolling window"
    GAP = "gap", "Minimum gap between two messages"
    STATE_SMS = "state_sms", "State limit on marketing texts per 24 h (FL, OK, MD ...)"


class CapAction(models.TextChoices):
    DEFER = "defer", "Defer until the cap allows it"
    SKIP = "skip", "Skip the message"
    SWITCH = "switch", "Switch to the other channel when it is allowed, else defer"


class CapScope(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    ANY = "any", "Any channel"


class FrequencyCap(models.Model):
    """A frequency rule over marketing messages across every journey and broadcast.

    Rules are checked in `position` order and the first one breached decides. Transactional
    messages are exempt.
    """

    key = models.SlugField(max_length=50, unique=True, help_text="Reason codes name it.")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=CapKind.choices, default=CapKind.COUNT)
    channel = models.CharField(max_length=10, choices=CapScope.choices, default=CapScope.ANY)
    max_messages = models.PositiveIntegerField(
        null=True, blank=True, help_text="For 'count': at most this many in the window."
    )
    window_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="For 'count': the rolling window in hours."
    )
    min_gap_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="For 'gap': minutes between two marketing messages."
    )
    action = models.CharField(max_length=10, choices=CapAction.choices, default=CapAction.DEFER)
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.kind == CapKind.COUNT and not (self.max_messages and self.window_hours):
            raise ValidationError("A count rule needs a maximum and a window.")
        if self.kind == CapKind.GAP and not self.min_gap_minutes:
            raise ValidationError("A gap rule needs the minimum gap in minutes.")
        if self.kind == CapKind.STATE_SMS and self.channel != CapScope.SMS:
            raise ValidationError("State limits apply to SMS only.")


class InboundSms(models.Model):
    """Every inbound text from a verified Twilio webhook, once per MessageSid."""

    message_sid = models.CharField(max_length=64, unique=True)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32, blank=True)
    body = models.TextField(blank=True)
    kind = models.CharField(max_length=30, blank=True, help_text="The keyword class.")
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_sms"
    )
    outcome = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "inbound SMS"
        verbose_name_plural = "inbound SMS"

    def __str__(self) -> str:
        return f"{self.from_number}: {self.body[:40]}"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Awaiting review"
    OPTED_OUT = "opted_out", "Treated as an opt-out"
    DISMISSED = "dismissed", "Not an opt-out"


class KeywordReview(models.Model):
    """An unclear reply that may be an opt-out: SMS marketing to the number waits on it."""

    address = models.CharField(max_length=32, db_index=True)
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    inbound = models.OneToOneField(InboundSms, on_delete=models.PROTECT, related_name="review")
    status = models.CharField(
        max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["address"], condition=Q(status="open"), name="review_open_address")
        ]

    def __str__(self) -> str:
        return f"{self.address}: {self.get_status_display()}"
