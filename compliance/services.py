"""Consent operations every other app calls: record, read, suppress.

The ledger (ConsentEvent) is the truth; Subscription is the current state derived from
it here and nowhere else. An opt-in from an import, the API or the admin never lifts
what the person did (an opt-out, a STOP, a complaint): only the person can.
"""

import logging
from datetime import datetime
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from compliance.models import (
    PERSON_SOURCES,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    DisclosureText,
    Subscription,
    Suppression,
    SuppressionReason,
    Topic,
)
from profiles.identity import IdentityError, normalise_email, normalise_phone
from profiles.models import Channel, EventSource, Profile
from profiles.services import event_track

logger = logging.getLogger(__name__)

# Suppressions that stand for the person's own refusal: the person may lift them.
PERSON_LIFTABLE = frozenset(
    {
        SuppressionReason.SMS_STOP,
        SuppressionReason.UNSUBSCRIBED,
        SuppressionReason.CARRIER_OPT_OUT,
        SuppressionReason.COMPLAINT,
    }
)
# A person joining through a sign-up (confirmed double opt-in or a single opt-in form)
# announces SUBSCRIBED_EVENT, which welcome journeys listen for.
SUBSCRIBED_EVENT = "Subscribed"
SIGN_UP_SOURCES = frozenset({ConsentSource.DOUBLE_OPT_IN, ConsentSource.SIGNUP_FORM})
# Opt-outs that also block the address itself, whoever it later belongs to.
SUPPRESSING_SOURCES = {
    ConsentSource.SMS_KEYWORD: SuppressionReason.SMS_STOP,
    ConsentSource.CARRIER: SuppressionReason.CARRIER_OPT_OUT,
    ConsentSource.COMPLAINT: SuppressionReason.COMPLAINT,
}


def normalise_address(*, address: str, channel: str) -> str:
    if channel == Channel.EMAIL:
        return normalise_email(address) or ""
    return normalise_phone(address) or ""


def profile_address(profile: Profile, channel: str) -> str:
    return (profile.email or "") if channel == Channel.EMAIL else profile.phone_text


def is_suppressed(*, address: str, channel: str) -> bool:
    """True when the address is blocked for the channel, whichever profile holds it."""
    try:
        normalised = normalise_address(address=address, channel=channel)
    except IdentityError:
        return False
    return Suppression.objects.filter(
        address=normalised, channel=channel, lifted_at__isnull=True
    ).exists()


def topic_from(topic: Topic | str | None) -> Topic | None:
    """A Topic, from itself or its key (None stays None: the whole channel)."""
    if topic is None or isinstance(topic, Topic):
        return topic
    return Topic.objects.get(key=topic)


def consent_status(*, profile: Profile, channel: str, topic: Topic | str | None = None) -> str:
    """`subscribed`, `unsubscribed`, `pending` or `never` for the channel (and topic).

    A topic is reachable only through consent to its channel; with channel consent, a
    topic the person never touched follows its `is_default`.
    """
    topic = topic_from(topic)
    scope = Q(topic__isnull=True) | Q(topic=topic) if topic else Q(topic__isnull=True)
    states = dict(
        Subscription.objects.filter(scope, profile=profile, channel=channel).values_list(
            "topic_id", "status"
        )
    )
    channel_state = states.get(None, ConsentStatus.NEVER)
    if topic is None or channel_state != ConsentStatus.SUBSCRIBED:
        return str(channel_state)
    if topic.pk in states:
        return str(states[topic.pk])
    return ConsentStatus.SUBSCRIBED if topic.is_default else ConsentStatus.NEVER


def consent_record(
    *,
    profile: Profile | None,
    channel: str,
    action: str,
    source: str,
    evidence: dict[str, Any] | None = None,
    topic: Topic | str | None = None,
    occurred_at: datetime | None = None,
    address: str | None = None,
    disclosure: DisclosureText | None = None,
    actor=None,
    idempotency_key: str | None = None,
) -> ConsentEvent:
    """Append one consent change to the ledger and apply it to the current state.

    Returns the ledger row; `applied` is False (with `outcome` saying why) when the
    change was refused, e.g. an import's opt-in for someone who opted out.
    """
    _validate(channel=channel, action=action, source=source)
    topic = topic_from(topic)
    if idempotency_key:
        existing = ConsentEvent.objects.filter(idempotency_key=idempotency_key).first()
        if existing:
            return existing
    with transaction.atomic():
        if profile is not None:
            # Serialises consent changes per person: STOP and a send never interleave.
            profile = Profile.objects.select_for_update().get(pk=profile.pk)
        raw_address = address or (profile_address(profile, channel) if profile else "")
        if not raw_address:
            raise ValueError(f"no {channel} address to record consent for")
        normalised = normalise_address(address=raw_address, channel=channel)
        if channel == Channel.SMS and action != ConsentAction.OPT_OUT:
            _require_mobile(normalised)
        applied, outcome = _judge(profile, normalised, channel, action, source, topic)
        event, created = _insert_once(
            ConsentEvent(
                profile=profile,
                address=normalised,
                channel=channel,
                topic=topic,
                action=action,
                source=source,
                evidence=evidence or {},
                disclosure=disclosure,
                applied=applied,
                outcome=outcome,
                actor=actor,
                occurred_at=occurred_at or timezone.now(),
                idempotency_key=idempotency_key or None,
            )
        )
        if created and applied:
            _apply(event, profile)
    logger.debug("consent %s %s %s via %s: %s", action, channel, normalised, source, event.outcome)
    return event


def _insert_once(event: ConsentEvent) -> tuple[ConsentEvent, bool]:
    """Store the row, or return the one a concurrent call stored under the same key.

    Both calls can pass the early key check at once; the unique key decides, and the
    loser applies nothing.
    """
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        key = event.idempotency_key
        stored = ConsentEvent.objects.filter(idempotency_key=key).first() if key else None
        if stored is None:
            raise
        return stored, False
    return event, True


def _validate(*, channel: str, action: str, source: str) -> None:
    if channel not in Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    if action not in ConsentAction.values:
        raise ValueError(f"unknown consent action {action!r}")
    if source not in ConsentSource.values:
        raise ValueError(f"unknown consent source {source!r}")


def _require_mobile(number: str) -> None:
    kind = phonenumbers.number_type(phonenumbers.parse(number))
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValueError(f"{number} is not a mobile number; SMS consent needs one")


def _judge(profile, address, channel, action, source, topic) -> tuple[bool, str]:
    """Whether the change may apply, and the outcome in words for the ledger."""
    if action == ConsentAction.OPT_OUT:
        return True, "opted out"
    if source not in PERSON_SOURCES:
        blocker = _persons_refusal(profile, address, channel, topic)
        if blocker:
            return False, f"refused: {blocker}; only the person can opt back in"
    current = consent_status(profile=profile, channel=channel, topic=topic) if profile else ""
    if action == ConsentAction.PENDING and current == ConsentStatus.SUBSCRIBED:
        return False, "already subscribed; nothing to confirm"
    return True, "pending confirmation" if action == ConsentAction.PENDING else "opted in"


def _persons_refusal(profile, address, channel, topic) -> str:
    suppression = (
        Suppression.objects.filter(address=address, channel=channel, lifted_at__isnull=True)
        .order_by("created_at")
        .first()
    )
    if suppression:
        return f"address suppressed ({suppression.get_reason_display()})"
    if profile is None:
        return ""
    scopes = [None, topic.pk] if topic else [None]
    for row in Subscription.objects.filter(profile=profile, channel=channel):
        if row.topic_id in scopes and row.status == ConsentStatus.UNSUBSCRIBED:
            return f"the person opted out ({row.get_source_display()})"
    return ""


def _apply(event: ConsentEvent, profile: Profile | None) -> None:
    if event.action == ConsentAction.OPT_OUT and event.source in SUPPRESSING_SOURCES:
        suppression_add(
            address=event.address,
            channel=event.channel,
            reason=SUPPRESSING_SOURCES[event.source],
            source=event.source,
            evidence={"consent_event": event.pk},
        )
    if event.action == ConsentAction.OPT_IN and event.source in PERSON_SOURCES:
        _lift_suppressions(event)
    if profile is None:
        return
    status = {
        ConsentAction.OPT_IN: ConsentStatus.SUBSCRIBED,
        ConsentAction.OPT_OUT: ConsentStatus.UNSUBSCRIBED,
        ConsentAction.PENDING: ConsentStatus.PENDING,
    }[event.action]
    Subscription.objects.update_or_create(
        profile=profile,
        channel=event.channel,
        topic=event.topic,
        defaults={
            "status": status,
            "source": event.source,
            "last_event": event,
            "updated_at": event.occurred_at,
        },
    )
    if event.action == ConsentAction.OPT_IN and event.source in SIGN_UP_SOURCES:
        _announce_subscribed(event, profile)


def _announce_subscribed(event: ConsentEvent, profile: Profile) -> None:
    """A 'Subscribed' event on the timeline: welcome journeys start from it."""
    event_track(
        profile=profile,
        name=SUBSCRIBED_EVENT,
        properties={"channel": event.channel, "source": event.source},
        occurred_at=event.occurred_at,
        idempotency_key=f"consent:subscribed:{event.pk}",
        source=EventSource.SYSTEM,
        channel=event.channel,
    )


def suppression_add(
    *, address: str, channel: str, reason: str, source: str, evidence: dict | None = None
) -> Suppression:
    """Block an address for a channel (idempotent per active reason)."""
    normalised = normalise_address(address=address, channel=channel)
    suppression, _ = Suppression.objects.get_or_create(
        address=normalised,
        channel=channel,
        reason=reason,
        lifted_at__isnull=True,
        defaults={"source": source, "evidence": evidence or {}},
    )
    return suppression


def _lift_suppressions(event: ConsentEvent) -> None:
    Suppression.objects.filter(
        address=event.address,
        channel=event.channel,
        reason__in=PERSON_LIFTABLE,
        lifted_at__isnull=True,
    ).update(lifted_at=event.occurred_at, lifted_by_event=event)


def merge_subscriptions(survivor: Profile, absorbed: Profile) -> None:
    """Merge hook: where both profiles hold the same scope, a refusal wins, else the newer."""
    mine = {(s.channel, s.topic_id): s for s in Subscription.objects.filter(profile=survivor)}
    for theirs in Subscription.objects.filter(profile=absorbed):
        ours = mine.get((theirs.channel, theirs.topic_id))
        if ours is None:
            continue
        if _stronger(theirs, ours):
            Subscription.objects.filter(pk=ours.pk).update(
                status=theirs.status,
                source=theirs.source,
                last_event=theirs.last_event,
                updated_at=theirs.updated_at,
            )
        theirs.delete()


def _stronger(candidate: Subscription, current: Subscription) -> bool:
    refused = ConsentStatus.UNSUBSCRIBED
    if (candidate.status == refused) != (current.status == refused):
        return candidate.status == refused
    return candidate.updated_at > current.updated_at
