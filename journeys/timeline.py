"""Journey steps on the profile timeline."""

from profiles.hooks import TimelineEntry


def journey_entries(profile, limit: int):
    from journeys.models import StepLog

    rows = (
        StepLog.objects.filter(enrollment__profile=profile)
        .select_related("journey")
        .order_by("-at")[:limit]
    )
    for row in rows:
        yield TimelineEntry(
            at=row.at,
            kind="journey",
            title=f"{row.journey.name}: {row.step} {row.get_outcome_display().lower()}",
            detail=row.reason,
        )
