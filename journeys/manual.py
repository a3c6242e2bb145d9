"""Manual entry: an admin action on selected profiles, and the date-trait scan."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.cache import cache
from django.template.response import TemplateResponse
from django.utils import timezone

from journeys.models import Journey, JourneyStatus, TriggerType
from journeys.services import enrollment_create

SCAN_EVERY = timedelta(hours=1)


class EnrolForm(forms.Form):
    journey = forms.ModelChoiceField(
        queryset=Journey.objects.filter(status=JourneyStatus.ACTIVE),
        help_text="Only active journeys can take people in.",
    )


@admin.action(description="Enrol the selected profiles in a journey")
def enrol_in_journey(modeladmin, request, queryset):
    form = EnrolForm(request.POST if "journey" in request.POST else None)
    if form.is_valid():
        journey = form.cleaned_data["journey"]
        entered = sum(
            enrollment_create(journey=journey, profile=profile,
                              context={"trigger": "manual", "by": request.user.get_username()})
            is not None
            for profile in queryset
        )  # fmt: skip
        skipped = queryset.count() - entered
        modeladmin.message_user(
            request, f"Enrolled {entered} in {journey}; {skipped} not (already in it, or its "
            "re-entry rule says no).", messages.SUCCESS if entered else messages.WARNING,
        )  # fmt: skip
        return None
    context = {**modeladmin.admin_site.each_context(request), "form": form,
               "queryset": queryset, "opts": modeladmin.model._meta,
               "title": "Enrol in a journey",
               "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}  # fmt: skip
    return TemplateResponse(request, "admin/journeys/enrol.html", context)


def scan_date_traits(*, now=None) -> int:
    """Enrol people whose date trait is N days ahead (e.g. renewal), at most hourly."""
    now = now or timezone.now()
    entered = 0
    journeys = Journey.objects.filter(status=JourneyStatus.ACTIVE,
                                      trigger_type=TriggerType.DATE_TRAIT)  # fmt: skip
    for journey in journeys:
        if not cache.add(f"journeys:date-scan:{journey.pk}", 1, SCAN_EVERY.total_seconds()):
            continue
        entered += _scan(journey, now)
    return entered


def _scan(journey: Journey, now) -> int:
    from profiles.models import Profile

    trait = (journey.trigger_settings or {}).get("trait", "")
    days = int((journey.trigger_settings or {}).get("days_before", 0))
    if not trait.isidentifier():
        return 0
    today = now.astimezone(ZoneInfo(settings.QUIET_HOURS_DEFAULT_TIME_ZONE)).date()
    target = (today + timedelta(days=days)).isoformat()
    people = Profile.objects.filter(**{f"traits__{trait}__startswith": target})
    context = {"trigger": "date_trait", "trait": trait, "date": target}
    return sum(
        enrollment_create(journey=journey, profile=p, context=context, now=now) is not None
        for p in people.iterator()
    )
