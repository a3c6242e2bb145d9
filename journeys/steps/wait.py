"""wait: a duration, until a local time of day, or until a weekday, in the person's zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings

from journeys.steps.base import Context, Result, StepSpec, StepType, register

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class WaitForm(forms.Form):
    days = forms.IntegerField(min_value=0, required=False)
    hours = forms.IntegerField(min_value=0, required=False)
    minutes = forms.IntegerField(min_value=0, required=False)
    until_time = forms.TimeField(required=False, help_text="Then wait until this local time.")
    weekday = forms.ChoiceField(
        choices=[("", "-")] + [(d, d.title()) for d in WEEKDAYS], required=False
    )

    def clean(self):
        data = super().clean()
        if not any(data.get(k) for k in ("days", "hours", "minutes", "until_time", "weekday")):
            raise forms.ValidationError("Give a duration, a time of day or a weekday.")
        return data


def person_zone(profile) -> ZoneInfo:
    try:
        return ZoneInfo(profile.time_zone or settings.QUIET_HOURS_DEFAULT_TIME_ZONE)
    except (KeyError, ValueError):
        return ZoneInfo(settings.QUIET_HOURS_DEFAULT_TIME_ZONE)


def wake_at(started: datetime, values: dict, zone: ZoneInfo) -> datetime:
    """The instant the wait ends: the duration, then the weekday, then the time of day."""
    duration = timedelta(
        days=values.get("days") or 0,
        hours=values.get("hours") or 0,
        minutes=values.get("minutes") or 0,
    )
    local = (started + duration).astimezone(zone)
    if weekday := values.get("weekday"):
        ahead = (WEEKDAYS.index(weekday) - local.weekday()) % 7
        if ahead:
            local = datetime.combine(local.date() + timedelta(days=ahead), time(0), zone)
    if at := values.get("until_time"):
        at = at if isinstance(at, time) else time.fromisoformat(at)
        target = datetime.combine(local.date(), at, zone)
        if target < local:
            target = datetime.combine(local.date() + timedelta(days=1), at, zone)
        local = target
    # combine() with a zone is wall time: a DST gap moves forward, as zoneinfo resolves it.
    return local.astimezone(started.tzinfo)


@register
class Wait(StepType):
    name = "wait"
    label = "Wait"
    form = WaitForm
    waits = True

    def run(self, ctx: Context) -> Result:
        until = wake_at(ctx.started_at, ctx.spec.settings, person_zone(ctx.profile))
        if ctx.now >= until:
            return Result.go(ctx.spec.next, "waited")
        return Result.wait(until, reason=f"until {until:%Y-%m-%d %H:%M} UTC")

    def describe(self, spec: StepSpec) -> str:
        s = spec.settings
        parts = [f"{s[k]} {k}" for k in ("days", "hours", "minutes") if s.get(k)]
        if s.get("weekday"):
            parts.append(f"until {s['weekday'].title()}")
        if s.get("until_time"):
            parts.append(f"until {s['until_time']} local")
        return "Wait " + ", ".join(parts)
