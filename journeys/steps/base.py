"""The step-type contract: validate settings, run against an enrollment, say what is next."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

if TYPE_CHECKING:
    from journeys.models import Enrollment, Journey
    from profiles.models import Profile

registry: dict[str, StepType] = {}


def register(cls: type[StepType]) -> type[StepType]:
    """Class decorator: make a step type available by its name (no migration needed)."""
    registry[cls.name] = cls()
    return cls


@dataclass(frozen=True)
class StepSpec:
    """One step as frozen in a published version."""

    key: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    next: str = ""
    yes: str = ""
    no: str = ""
    name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "settings": self.settings,
            "next": self.next,
            "yes": self.yes,
            "no": self.no,
            "name": self.name,
        }


@dataclass
class Context:
    """What a step may read while it runs (and `state` it may write, kept per enrollment)."""

    enrollment: Enrollment
    journey: Journey
    profile: Profile
    spec: StepSpec
    now: datetime
    dry_run: bool = False
    # Outbox rows the engine holds for this run (id -> Message): the ones its batch queued,
    # or the ones a dispatch task just sent; a send step reads its message from here.
    outbox: dict = field(default_factory=dict)

    @property
    def state(self) -> dict[str, Any]:
        return self.enrollment.state

    @property
    def started_at(self) -> datetime:
        return self.enrollment.step_started_at


@dataclass(frozen=True)
class Result:
    """continue to `next` now, wait until `until` (same step), or end the enrollment."""

    # "continue", "wait", "end"; or for the engine: "queue" (queue `request` with the batch's
    # others) or "dispatch" (hand `message_id` to dispatch and wait until it ran, at most
    # until `until`: neither is a step of the journey, nor written to the step log)
    action: str
    outcome: str
    reason: str = ""
    next: str = ""
    until: datetime | None = None
    request: Any = None  # journeys.sending.Request
    message_id: int | None = None

    @classmethod
    def go(cls, next_key: str, outcome: str, reason: str = "") -> Result:
        return cls("continue", outcome, reason, next=next_key)

    @classmethod
    def wait(cls, until: datetime, outcome: str = "waiting", reason: str = "") -> Result:
        return cls("wait", outcome, reason, until=until)

    @classmethod
    def end(cls, outcome: str, reason: str = "") -> Result:
        return cls("end", outcome, reason)

    @classmethod
    def queue(cls, request: Any) -> Result:
        """Ask the engine to queue this message with the batch's others, then run the step
        again with its row."""
        return cls("queue", "queued", request=request)

    @classmethod
    def dispatch(cls, message_id: int, until: datetime) -> Result:
        """The message is due: hand it to dispatch; the step runs again once it was."""
        return cls("dispatch", "dispatching", until=until, message_id=message_id)


def scaled(duration: timedelta) -> timedelta:
    """A journey duration under JOURNEY_TIME_SCALE (demo only: 60 makes an hour a minute)."""
    scale = getattr(settings, "JOURNEY_TIME_SCALE", 1) or 1
    return duration / scale if scale != 1 else duration


def _plain(value: Any) -> Any:
    """JSON-safe settings: times and dates as ISO text."""
    return value.isoformat() if hasattr(value, "isoformat") else value


class StepType:
    name: ClassVar[str]
    label: ClassVar[str]
    form: ClassVar[type[forms.Form]] = forms.Form
    # Which of next / yes / no the step uses (validation and the diagram read this).
    exits: ClassVar[tuple[str, ...]] = ("next",)
    waits: ClassVar[bool] = False  # a loop through a waiting step cannot spin

    def clean(self, settings: dict[str, Any]) -> dict[str, Any]:
        form = self.form(data=settings)
        if not form.is_valid():
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
            raise ValidationError(f"{self.label}: {errors}")
        return {k: _plain(v) for k, v in form.cleaned_data.items() if v not in (None, "", [])}

    def targets(self, spec: StepSpec) -> list[str]:
        """The step keys this step may lead to."""
        return [key for key in (getattr(spec, name) for name in self.exits) if key]

    def run(self, ctx: Context) -> Result:
        raise NotImplementedError

    def describe(self, spec: StepSpec) -> str:
        return self.label
