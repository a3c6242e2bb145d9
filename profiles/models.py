"""Who: one Profile per person, their Events (the timeline), merges and API tokens."""

import hashlib
import secrets
import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField


@cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value and value not in _known_time_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone name (e.g. America/Chicago).")


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Profile(models.Model):
    # NULL (not "") means "not set", so the unique constraints apply only where set.
    external_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    phone = PhoneNumberField(null=True, blank=True, help_text="E.164, e.g. +14155550123")
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone], help_text="IANA name"
    )
    locale = models.CharField(max_length=35, blank=True, help_text="BCP 47, e.g. en-US")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    traits = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="profile_unique_external_id",
            ),
            models.UniqueConstraint(
                fields=["email"], condition=Q(email__isnull=False), name="profile_unique_email"
            ),
            models.UniqueConstraint(
                fields=["phone"], condition=Q(phone__isnull=False), name="profile_unique_phone"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        # Empty strings would collide on the unique constraints; "not set" is NULL.
        self.email = self.email.strip().lower() if self.email else None
        self.external_id = self.external_id or None
        self.phone = self.phone or None
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("admin:profiles_profile_change", args=[self.pk])

    @property
    def phone_text(self) -> str:
        """The stored E.164 text ("" when unset), without re-validating the number.

        str() or len() of a PhoneNumber runs phonenumbers' validation each time; the value
        was validated once, on its way in.
        """
        phone = self.phone
        if isinstance(phone, str):
            return phone
        raw = getattr(phone, "raw_input", "") or ""
        return raw if raw.startswith("+") else (str(phone) if phone else "")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def display_name(self) -> str:
        return self.full_name or self.email or str(self.phone or "") or f"Profile {self.pk}"


class EventSource(models.TextChoices):
    API = "api", "API"
    IMPORT = "import", "Import"
    WEBHOOK = "webhook", "Provider webhook"
    ADMIN = "admin", "Admin"
    JOURNEY = "journey", "Journey"
    SYSTEM = "system", "System"
    DEMO = "demo", "Demo data"


class Event(models.Model):
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=200)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=20, choices=EventSource.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["profile", "-occurred_at"], name="event_profile_time"),
            models.Index(fields=["name", "-occurred_at"], name="event_name_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class ProfileMerge(models.Model):
    """A record that two profiles proved to be one person, and what the absorbed one held."""

    survivor = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="merges")
    merged_profile_id = models.BigIntegerField()
    merged_snapshot = models.JSONField()
    moved = models.JSONField(default=dict, help_text="Rows moved to the survivor, by model.")
    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Profile {self.merged_profile_id} merged into {self.survivor_id}"


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)

    def authenticate(self, raw: str) -> "ApiToken | None":
        # Tokens carry 256 bits of randomness, so a fast hash is enough; the lookup is by
        # the hash itself, never by comparing secrets in Python.
        return self.active().filter(token_hash=_hash_token(raw)).first()


class ApiToken(models.Model):
    PREFIX = "tdm_"

    name = models.CharField(max_length=100)
    token_prefix = models.CharField(max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    @classmethod
    def generate(cls, *, name: str, created_by=None) -> tuple["ApiToken", str]:
        """Create a token; the raw secret is returned once and never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            name=name,
            token_prefix=raw[:12],
            token_hash=_hash_token(raw),
            created_by=created_by,
        )
        return token, raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportFormat(models.TextChoices):
    MAILCHIMP = "mailchimp", "Mailchimp audience export"
    SHOPIFY = "shopify", "Shopify customers export"
    KLAVIYO = "klaviyo", "Klaviyo profiles export"
    PLAIN = "plain", "Plain CSV"


class ImportJob(models.Model):
    """One CSV file imported in the background, resumable from its last committed batch."""

    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED, db_index=True
    )
    file = models.FileField(upload_to="imports/%Y/%m/", help_text="CSV, UTF-8 or Latin-1.")
    original_name = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=10, choices=ImportFormat.choices, blank=True)
    mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text='The operator\'s column -> field overrides, e.g. {"E-mail": "email"}.',
    )
    plan = models.JSONField(
        default=dict, blank=True, help_text="The columns used: detected, with the overrides."
    )
    source_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="Where the list comes from, e.g. 'Mailchimp newsletter list, exported 2025-03'.",
    )
    email_consent = models.BooleanField(
        default=False, help_text="I declare that everyone with an email here opted in to email."
    )
    sms_consent = models.BooleanField(
        default=False, help_text="I declare that everyone with a mobile here opted in to SMS."
    )
    overwrite = models.BooleanField(
        default=False, help_text="Overwrite existing values (default: fill empty fields only)."
    )
    enrol_in_journeys = models.BooleanField(
        default=False, help_text="Imported profiles may enter journeys (default: they do not)."
    )
    dry_run = models.BooleanField(default=False, help_text="Preview only: nothing is written.")
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    consent_applied = models.PositiveIntegerField(default=0)
    consent_refused = models.PositiveIntegerField(default=0)
    rows_processed = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    committed_offset = models.PositiveIntegerField(
        default=0, help_text="Data rows committed so far; a restarted worker resumes here."
    )
    error_file = models.FileField(upload_to="imports/errors/", blank=True)
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "import job"

    def __str__(self) -> str:
        return f"Import {self.pk}: {self.original_name or self.file.name}"

    def get_absolute_url(self) -> str:
        return reverse("admin:profiles_importjob_change", args=[self.pk])

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, round(100 * self.rows_processed / self.rows_total))

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)
