"""When: journeys (flows), their published versions, enrollments and the step log."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from profiles.models import Profile


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class TriggerType(models.TextChoices):
    EVENT = "event", "An event happens"
    PROFILE_CREATED = "profile_created", "A profile is created"
    SUBSCRIBED = "subscribed", "Someone signs up"
    DATE_TRAIT = "date_trait", "A date trait comes near (e.g. renewal)"
    MANUAL = "manual", "Manually, from the profile list"
    API = "api", "Through the API"


class ReEntry(models.TextChoices):
    ONCE = "once", "Once per person, ever"
    PER_DAYS = "per_days", "Once per N days"
    ALWAYS = "always", "Every time (never two at once)"


class Journey(models.Model):
    """A flow. Its Steps are the editable draft; each publish freezes them as a version."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT
    )
    trigger_type = models.CharField(
        max_length=20, choices=TriggerType.choices, default=TriggerType.EVENT
    )
    trigger_event = models.CharField(
        max_length=200, blank=True, help_text="Event name, e.g. Checkout Started"
    )
    trigger_filters = models.JSONField(
        default=dict,
        blank=True,
        help_text='Event properties that must match, e.g. {"currency": "USD"}',
    )
    trigger_settings = models.JSONField(
        default=dict,
        blank=True,
        help_text='Date trait: {"trait": "renewal_date", "days_before": 7}; '
        'event count: {"min_count": 5} or {"min_value_total": 500}',
    )
    reentry = models.CharField(max_length=10, choices=ReEntry.choices, default=ReEntry.ONCE)
    reentry_days = models.PositiveIntegerField(null=True, blank=True)
    goal_events = models.JSONField(
        default=list,
        blank=True,
        help_text='Events that end an enrollment, e.g. ["Order Completed"]',
    )
    entry_step = models.SlugField(max_length=50, blank=True, help_text="Empty: the first step.")
    template_key = models.SlugField(max_length=50, blank=True, help_text="Installed from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def live_version(self) -> "JourneyVersion | None":
        return self.versions.order_by("-number").first()


def step_type_choices():
    from journeys.steps import registry

    return [(name, step.label) for name, step in sorted(registry.items())]


class Step(models.Model):
    """A step of the draft. `next_step` is where it goes on; branches name two or more."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="steps")
    key = models.SlugField(max_length=50)
    type = models.CharField(max_length=30, choices=step_type_choices)
    name = models.CharField(max_length=200, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    next_step = models.SlugField(max_length=50, blank=True, help_text="Empty: the journey ends.")
    yes_step = models.SlugField(
        max_length=50, blank=True, help_text="Branch: condition true. Engagement wait: engaged."
    )
    no_step = models.SlugField(
        max_length=50, blank=True, help_text="Branch: condition false. Engagement wait: timed out."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["journey", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "key"], name="step_unique_key_per_journey")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.type})"


class JourneyVersion(models.Model):
    """A frozen copy of the steps: enrollments run on the version they entered."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["journey", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "number"], name="version_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.journey} v{self.number}"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"
    FAILED = "failed", "Failed"


class Enrollment(models.Model):
    # Every step rewrites the row and every index on it: only the indexes a query uses (the
    # profile's lookups go through enrollment_profile_journey; nothing looks a step up alone).
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments")
    # No index: only deleting a version looks enrollments up by it (PROTECT), and every
    # claim and every save of a position would rewrite one more index entry.
    version = models.ForeignKey(
        JourneyVersion, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    status = models.CharField(
        max_length=20, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    current_step = models.SlugField(max_length=50, blank=True, db_index=False)
    step_started_at = models.DateTimeField(default=timezone.now)
    steps_taken = models.PositiveIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True, help_text="The trigger's properties.")
    state = models.JSONField(default=dict, blank=True, help_text="Message ids per step, etc.")
    entered_at = models.DateTimeField(default=timezone.now)
    exited_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-entered_at"]
        indexes = [
            models.Index(
                fields=["next_run_at"],
                condition=Q(status="active"),
                name="enrollment_due",
            ),
            models.Index(fields=["profile", "journey"], name="enrollment_profile_journey"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "profile"],
                condition=Q(status="active"),
                name="enrollment_one_active_per_journey",
            )
        ]

    def __str__(self) -> str:
        return f"{self.profile} in {self.journey} ({self.status})"


class StepOutcome(models.TextChoices):
    ENTERED = "entered", "Entered"
    SENT = "sent", "Message queued"
    DEFERRED = "deferred", "Deferred"
    SUPPRESSED = "suppressed", "Suppressed"
    SKIPPED = "skipped", "Skipped"
    WAITING = "waiting", "Waiting"
    WAITED = "waited", "Wait over"
    ENGAGED = "engaged", "Engaged"
    TIMED_OUT = "timed_out", "Timed out"
    BRANCHED = "branched", "Branched"
    UPDATED = "updated", "Profile updated"
    CONVERTED = "converted", "Converted (goal)"
    EXITED = "exited", "Exited"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class StepLog(models.Model):
    """What happened at each step and why: the person's path, funnels, diagram counts."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="log")
    # A row a step: the journey's and the step's lookups go through steplog_counts.
    # No constraint of its own: a log row's journey is always its enrollment's (journeys.
    # writes takes it from the enrollment), and the enrollment's constraint (the row's) and
    # the enrollment's journey constraint keep that journey in place, so a check per row
    # (~5 us of PostgreSQL CPU at every step) added nothing; a journey goes only once its
    # enrollments (and with them their log rows) are gone (tests/journeys/test_integrity.py).
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+",
                                db_index=False, db_constraint=False)  # fmt: skip
    step = models.SlugField(max_length=50, blank=True, db_index=False)
    outcome = models.CharField(max_length=20, choices=StepOutcome.choices)
    reason = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["journey", "step", "outcome"], name="steplog_counts")]

    def __str__(self) -> str:
        return f"{self.step}: {self.outcome}"
