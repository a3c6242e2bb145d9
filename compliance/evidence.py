"""Evidence packs: everything the ledger knows about one address, for an auditor."""

from typing import Any

from django.utils import timezone

from compliance.models import ConsentEvent, Suppression


def evidence_pack(*, address: str, channel: str) -> dict[str, Any]:
    """Every consent event (with its disclosure text in full) and suppression for an address."""
    events = (
        ConsentEvent.objects.filter(address=address, channel=channel)
        .select_related("disclosure", "topic", "actor")
        .order_by("occurred_at", "id")
    )
    suppressions = Suppression.objects.filter(address=address, channel=channel)
    return {
        "address": address,
        "channel": channel,
        "generated_at": timezone.now().isoformat(),
        "consent_events": [_event(event) for event in events],
        "suppressions": [_suppression(row) for row in suppressions.order_by("created_at")],
    }


def _event(event: ConsentEvent) -> dict[str, Any]:
    disclosure = event.disclosure
    return {
        "id": event.pk,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
        "profile_id": event.profile_id,
        "topic": event.topic.key if event.topic_id else None,
        "action": event.action,
        "source": event.source,
        "applied": event.applied,
        "outcome": event.outcome,
        "evidence": event.evidence,
        "actor": event.actor.get_username() if event.actor_id else None,
        "disclosure": None
        if disclosure is None
        else {
            "key": disclosure.key,
            "version": disclosure.version,
            "text": disclosure.text,
            "sha256": disclosure.digest,
        },  # fmt: skip
    }


def _suppression(row: Suppression) -> dict[str, Any]:
    return {
        "reason": row.reason,
        "source": row.source,
        "created_at": row.created_at.isoformat(),
        "lifted_at": row.lifted_at.isoformat() if row.lifted_at else None,
        "evidence": row.evidence,
    }
