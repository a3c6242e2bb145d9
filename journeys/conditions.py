"""Branch conditions and channel choice, read from the profile, its events and consent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from compliance.models import ContactPreference
from compliance.services import consent_status
from journeys.engagement import ALL_ENGAGEMENT_EVENTS, engagement_with
from profiles.models import Event

KINDS = [
    ("trait", "A trait"),
    ("event", "Did an event recently"),
    ("consent", "Consent state"),
    ("engagement", "Engaged with an earlier message"),
    ("affinity", "Prefers a channel"),
]
OPS = [("", "-"), ("eq", "is"), ("neq", "is not"), ("gt", ">"), ("lt", "<"),
       ("exists", "is set"), ("contains", "contains")]  # fmt: skip
ENGAGEMENTS = [("", "-"), ("opened", "Opened"), ("clicked", "Clicked"), ("replied", "Replied"),
               ("any", "Opened, clicked or replied")]  # fmt: skip
REQUIRED = {
    "trait": ("trait", "op"),
    "event": ("event", "within_days"),
    "consent": ("channel", "status"),
    "engagement": ("step",),
    "affinity": ("channel",),
    "": (),
}


def evaluate(settings: dict, ctx) -> tuple[bool, str]:
    """(holds, why) for one condition."""
    kind = settings["kind"]
    holds = _EVALUATORS[kind](settings, ctx)
    return holds, f"{describe(settings)}: {'yes' if holds else 'no'}"


def _trait(s: dict, ctx) -> bool:
    traits = ctx.profile.traits or {}
    actual, expected, op = traits.get(s["trait"]), s.get("value", ""), s["op"]
    if op == "exists":
        return actual not in (None, "")
    if op == "contains":
        return str(expected).lower() in str(actual or "").lower()
    if op in ("gt", "lt"):
        try:
            left, right = Decimal(str(actual)), Decimal(str(expected))
        except (InvalidOperation, ValueError):
            return False
        return left > right if op == "gt" else left < right
    same = str(actual) == str(expected) if actual is not None else expected in ("", None)
    return same if op == "eq" else not same


def _event(s: dict, ctx) -> bool:
    since = ctx.now - timedelta(days=s["within_days"])
    count = Event.objects.filter(
        profile_id=ctx.profile.pk, name=s["event"], occurred_at__gte=since
    ).count()
    return count >= s.get("min_count", 1)


def _consent(s: dict, ctx) -> bool:
    return consent_status(profile=ctx.profile, channel=s["channel"]) == s["status"]


def _engagement(s: dict, ctx) -> bool:
    message = ctx.state.get("messages", {}).get(s["step"])
    if not message:
        return False
    kind = s.get("engagement") or "any"
    kinds = ["opened", "clicked", "replied"] if kind == "any" else [kind]
    return engagement_with(profile_id=ctx.profile.pk, message=message, kinds=kinds) is not None


def _affinity(s: dict, ctx) -> bool:
    return latest_engaged_channel(ctx.profile.pk, ctx.now - timedelta(days=90)) == s["channel"]


_EVALUATORS = {
    "trait": _trait,
    "event": _event,
    "consent": _consent,
    "engagement": _engagement,
    "affinity": _affinity,
}


def describe(s: dict) -> str:
    kind = s.get("kind")
    if kind == "trait":
        return f"trait {s.get('trait')} {s.get('op')} {s.get('value', '')}".strip()
    if kind == "event":
        return f"{s.get('event')} at least {s.get('min_count', 1)}x in {s.get('within_days')} days"
    if kind == "consent":
        return f"{s.get('channel')} consent is {s.get('status')}"
    if kind == "engagement":
        return f"{s.get('engagement') or 'any'} engagement with {s.get('step')}"
    return f"prefers {s.get('channel')}"


def latest_engaged_channel(profile_id: int, since) -> str:
    event = (
        Event.objects.filter(
            profile_id=profile_id, name__in=ALL_ENGAGEMENT_EVENTS, occurred_at__gte=since
        )
        .exclude(channel="")
        .order_by("-occurred_at")
        .first()
    )
    return event.channel if event else ""


def best_channel(ctx, *, default: str, lookback: timedelta) -> tuple[str, str]:
    """(channel or "", why): preference, then latest engagement, then default; consented only."""
    consented = [
        channel
        for channel in ("email", "sms")
        if consent_status(profile=ctx.profile, channel=channel) == "subscribed"
    ]
    preference = ContactPreference.objects.filter(profile=ctx.profile).first()
    candidates = [
        (preference.primary_channel if preference else "", "primary channel"),
        (latest_engaged_channel(ctx.profile.pk, ctx.now - lookback), "latest engagement"),
        (default, "default"),
    ]
    for channel, why in candidates:
        if channel and channel in consented:
            return channel, f"{channel} ({why})"
    if consented:
        return consented[0], f"{consented[0]} (the only consented channel)"
    return "", "no consented channel"
