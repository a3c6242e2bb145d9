"""Consent from imports, set-based: the rules of consent_record, for thousands of rows at once.

Same rules as compliance.services.consent_record with source=import: an opt-in never lifts
an address suppression or the person's own opt-out (the ledger row says so, applied=False);
an opt-out always applies; a change older than the current state does not replace it. Rows
that would change nothing write nothing, so a re-import leaves the ledger as it was. The
import's idempotency keys make a resumed batch record nothing twice.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from compliance.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Subscription,
    Suppression,
    SuppressionReason,
)
from compliance.services import _require_mobile
from profiles.imports.consent import ConsentOutcome, ConsentRequest
from profiles.imports.widgets import CLEANED, OPT_IN, OPT_OUT
from profiles.models import Profile

STATUS_FOR = {OPT_IN: ConsentStatus.SUBSCRIBED, OPT_OUT: ConsentStatus.UNSUBSCRIBED}
ACTION_FOR = {OPT_IN: ConsentAction.OPT_IN, OPT_OUT: ConsentAction.OPT_OUT}


def consent_import_many(
    *, requests: list[ConsentRequest], dry_run: bool = False
) -> list[ConsentOutcome]:
    """Judge and record many import consent requests; one outcome per request, in order."""
    with transaction.atomic():
        _lock_profiles(r.profile_id for r in requests)
        known = set(
            ConsentEvent.objects.filter(
                idempotency_key__in=[r.idempotency_key for r in requests]
            ).values_list("idempotency_key", flat=True)
        )
        state = _State(requests)
        outcomes = [_judge(r, state, known) for r in requests]
        if not dry_run:
            _record(requests, outcomes, state)
    return [outcome for outcome, _ in outcomes]


def _lock_profiles(ids: Iterable[int | None]) -> None:
    # Serialises with consent_record (which locks the profile): a STOP and an import of
    # the same person never interleave. Primary-key order avoids deadlocks.
    wanted = sorted({pk for pk in ids if pk})
    list(Profile.objects.select_for_update().filter(pk__in=wanted).order_by("pk").values("pk"))


class _State:
    """Active suppressions and channel-level subscriptions of everyone in the batch."""

    def __init__(self, requests: list[ConsentRequest]):
        addresses = {r.address for r in requests}
        self.suppressions: dict[tuple[str, str], Suppression] = {}
        for row in Suppression.objects.filter(
            address__in=addresses, lifted_at__isnull=True
        ).order_by("-created_at"):
            self.suppressions[(row.address, row.channel)] = row
        self.subscriptions: dict[tuple[int, str], Subscription] = {
            (s.profile_id, s.channel): s
            for s in Subscription.objects.filter(
                profile_id__in={r.profile_id for r in requests if r.profile_id},
                topic__isnull=True,
            )
        }


def _judge(request: ConsentRequest, state: _State, known: set[str]):
    """(outcome, what to write): write is 'event', 'suppression' or None."""
    if request.idempotency_key in known:
        return ConsentOutcome(None, "already recorded by this import"), None
    if request.action == CLEANED:
        if (request.address, request.channel) in state.suppressions:
            return ConsentOutcome(None, "address already suppressed"), None
        return ConsentOutcome(True, "address marked undeliverable"), "suppression"
    current = state.subscriptions.get((request.profile_id, request.channel))
    if current and current.status == STATUS_FOR[request.action]:
        return ConsentOutcome(None, f"already {current.status}"), None
    refusal = _refusal(request, state, current)
    if refusal:
        return ConsentOutcome(False, refusal), "event"
    return ConsentOutcome(True, "opted in" if request.action == OPT_IN else "opted out"), "event"


def _refusal(request: ConsentRequest, state: _State, current: Subscription | None) -> str:
    if current and current.updated_at > request.occurred_at:
        since = f"{current.status} since {current.updated_at:%Y-%m-%d}"
        return f"refused: older than the current state ({since})"
    if request.action == OPT_OUT:
        return ""
    suppression = state.suppressions.get((request.address, request.channel))
    if suppression:
        blocker = f"address suppressed ({suppression.get_reason_display()})"
    elif current and current.status == ConsentStatus.UNSUBSCRIBED:
        blocker = f"the person opted out ({current.get_source_display()})"
    else:
        return _not_mobile(request)
    return f"refused: {blocker}; only the person can opt back in"


def _not_mobile(request: ConsentRequest) -> str:
    if request.channel != "sms":
        return ""
    try:
        _require_mobile(request.address)
    except ValueError as exc:
        return f"refused: {exc}"
    return ""


def _record(requests, outcomes, state: _State) -> None:
    now = timezone.now()
    events, suppressions = [], []
    for request, (outcome, write) in zip(requests, outcomes, strict=True):
        if write == "event":
            events.append(_event(request, outcome, now))
        elif write == "suppression":
            suppressions.append(_suppression(request))
    ConsentEvent.objects.bulk_create(events)
    Suppression.objects.bulk_create(suppressions, ignore_conflicts=True)
    _apply([e for e in events if e.applied], state)


def _event(request: ConsentRequest, outcome: ConsentOutcome, now: datetime) -> ConsentEvent:
    return ConsentEvent(
        profile_id=request.profile_id,
        address=request.address,
        channel=request.channel,
        action=ACTION_FOR[request.action],
        source=ConsentSource.IMPORT,
        evidence=request.evidence,
        applied=bool(outcome.applied),
        outcome=outcome.outcome[:200],
        occurred_at=request.occurred_at or now,
        idempotency_key=request.idempotency_key,
    )


def _suppression(request: ConsentRequest) -> Suppression:
    return Suppression(
        address=request.address,
        channel=request.channel,
        reason=SuppressionReason.HARD_BOUNCE,
        source=ConsentSource.IMPORT,
        evidence=request.evidence,
    )


def _apply(events: list[ConsentEvent], state: _State) -> None:
    """Subscription rows follow the applied ledger rows (channel level, no topic)."""
    changed, fresh = [], []
    for event in events:
        status = STATUS_FOR[OPT_IN if event.action == ConsentAction.OPT_IN else OPT_OUT]
        current = state.subscriptions.get((event.profile_id, event.channel))
        values = {"status": status, "source": event.source, "last_event": event}
        if current is None:
            fresh.append(
                Subscription(
                    profile_id=event.profile_id,
                    channel=event.channel,
                    topic=None,
                    updated_at=event.occurred_at,
                    **values,
                )
            )
            continue
        for name, value in values.items():
            setattr(current, name, value)
        current.updated_at = event.occurred_at
        changed.append(current)
    Subscription.objects.bulk_create(fresh)
    Subscription.objects.bulk_update(changed, ["status", "source", "last_event", "updated_at"])
