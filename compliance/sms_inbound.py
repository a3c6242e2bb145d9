"""Inbound SMS: what a verified Twilio text does, once per MessageSid, and what we answer.

Each keyword class has one effect (COMPLIANCE.md, "SMS keywords"):
opt-out (exact or by intent) revokes SMS consent for the number at once; an unclear
opt-out opens a review that pauses SMS marketing to the number; START / UNSTOP opt in;
YES / Y counts only with a pending double opt-in or an opted-out number; HELP is always
answered and changes nothing; anything else is a `sms_replied` event on the timeline.

The answer is derived from the stored row, so a retried delivery answers the same way.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance import keywords
from compliance.keywords import KeywordKind
from compliance.models import (
    ConsentAction,
    ConsentSource,
    ConsentStatus,
    DisclosureText,
    InboundSms,
    KeywordReview,
    ReviewStatus,
    Subscription,
    Suppression,
)
from compliance.services import PERSON_LIFTABLE, consent_record, consent_status
from profiles.identity import IdentityError, normalise_phone
from profiles.models import Channel, EventSource, Profile
from profiles.services import event_track, profile_upsert

logger = logging.getLogger(__name__)

SMS = Channel.SMS
OPT_OUT_KINDS = frozenset({KeywordKind.OPT_OUT, KeywordKind.OPT_OUT_INTENT})


class Outcome:
    """What an inbound text did, as stored on InboundSms.outcome (the reply depends on it)."""

    OPTED_OUT = "opted out"
    OPTED_IN = "opted in"
    CONFIRMED = "double opt-in confirmed"
    RESUBSCRIBED = "re-subscribed by YES"
    REVIEW = "unclear opt-out: review opened, SMS marketing paused"
    HELP = "answered HELP; consent unchanged"
    REPLY = "recorded as a reply"
    UNUSABLE = "sender number not usable; nothing changed"


OPTED_IN_OUTCOMES = frozenset({Outcome.OPTED_IN, Outcome.CONFIRMED, Outcome.RESUBSCRIBED})


@dataclass(frozen=True, slots=True)
class InboundText:
    """The fields of one Twilio inbound message that we act on."""

    message_sid: str
    from_number: str
    to_number: str
    body: str


def inbound_sms_receive(*, text: InboundText) -> InboundSms:
    """Store and act on one inbound text; a MessageSid seen before returns its stored row.

    One transaction: a concurrent retry waits on the unique MessageSid and then reads the
    finished row, so it changes nothing and answers the same way.
    """
    result = keywords.classify(text.body)
    with transaction.atomic():
        inbound, created = _claim(text, result.kind)
        if not created:
            return inbound
        inbound.outcome = _act(inbound, text, result)
        inbound.save(update_fields=["outcome", "profile"])
    logger.info("inbound sms %s (%s): %s", text.message_sid, result.kind, inbound.outcome)
    return inbound


def inbound_sms_reply(*, inbound: InboundSms) -> str:
    """The text the app answers with, "" for none (empty TwiML).

    HELP is always ours: Twilio's default HELP text has neither brand nor contact.
    Opt-out and opt-in confirmations only when the app owns them (at most one is sent).
    """
    if inbound.kind == KeywordKind.HELP:
        return keywords.help_reply(
            brand=settings.SMS_BRAND_NAME,
            help_contact=settings.SMS_HELP_CONTACT,
            frequency=settings.SMS_MESSAGE_FREQUENCY,
        )
    if settings.SMS_CONFIRMATION_OWNER != "app":
        return ""
    if inbound.outcome == Outcome.OPTED_OUT:
        return (
            f"{settings.SMS_BRAND_NAME}: You are unsubscribed and will get no more messages. "
            "Reply START to resubscribe."
        )
    if inbound.outcome in OPTED_IN_OUTCOMES:
        return (
            f"{settings.SMS_BRAND_NAME}: You are subscribed to {settings.SMS_PROGRAM_NAME}. "
            f"{settings.SMS_MESSAGE_FREQUENCY.strip().rstrip('.')}. Msg & data rates may apply. "
            "Reply HELP for help, STOP to cancel."
        )
    return ""


def _claim(text: InboundText, kind: str) -> tuple[InboundSms, bool]:
    try:
        with transaction.atomic():
            inbound = InboundSms.objects.create(
                message_sid=text.message_sid,
                from_number=text.from_number,
                to_number=text.to_number,
                body=text.body,
                kind=kind,
            )
    except IntegrityError:
        return InboundSms.objects.get(message_sid=text.message_sid), False
    return inbound, True


def _act(inbound: InboundSms, text: InboundText, result: keywords.KeywordResult) -> str:
    if result.kind == KeywordKind.HELP:
        return Outcome.HELP
    try:
        number = normalise_phone(text.from_number)
    except IdentityError:
        number = None
    if not number:
        return Outcome.UNUSABLE
    inbound.profile = Profile.objects.filter(phone=number).first()
    if result.kind in OPT_OUT_KINDS:
        return _opt_out(inbound, number, result)
    if result.kind == KeywordKind.UNCLEAR_OPT_OUT:
        KeywordReview.objects.create(address=number, profile=inbound.profile, inbound=inbound)
        return Outcome.REVIEW
    if result.kind == KeywordKind.OPT_IN:
        return _opt_in(
            inbound, number, result, source=ConsentSource.SMS_KEYWORD, outcome=Outcome.OPTED_IN
        )
    if result.kind == KeywordKind.CONFIRM and (confirmed := _confirm(inbound, number, result)):
        return confirmed
    return _reply(inbound, number)


def _evidence(inbound: InboundSms, result: keywords.KeywordResult) -> dict[str, str]:
    return {
        "body": inbound.body,
        "keyword": result.keyword,
        "normalised": result.normalised,
        "kind": str(result.kind),
        "message_sid": inbound.message_sid,
        "from": inbound.from_number,
        "to": inbound.to_number,
    }


def _ledger_key(inbound: InboundSms) -> str:
    return f"twilio-inbound:{inbound.message_sid}"


def _opt_out(inbound: InboundSms, number: str, result: keywords.KeywordResult) -> str:
    # No profile: consent_record still suppresses the address (source sms_keyword).
    consent_record(
        profile=inbound.profile,
        address=number,
        channel=SMS,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.SMS_KEYWORD,
        evidence=_evidence(inbound, result),
        idempotency_key=_ledger_key(inbound),
    )
    _close_reviews(number, ReviewStatus.OPTED_OUT, f"superseded by {result.keyword}", inbound)
    return Outcome.OPTED_OUT


def _opt_in(
    inbound: InboundSms,
    number: str,
    result: keywords.KeywordResult,
    *,
    source: str,
    outcome: str,
    evidence: dict | None = None,
    disclosure: DisclosureText | None = None,
) -> str:
    try:
        event = consent_record(
            profile=inbound.profile,
            address=number,
            channel=SMS,
            action=ConsentAction.OPT_IN,
            source=source,
            evidence={**_evidence(inbound, result), **(evidence or {})},
            disclosure=disclosure,
            idempotency_key=_ledger_key(inbound),
        )
    except ValueError as exc:  # e.g. a landline: SMS consent needs a mobile number
        return f"opt-in not recorded: {exc}"[:200]
    if not event.applied:
        return f"opt-in not applied: {event.outcome}"[:200]
    _close_reviews(number, ReviewStatus.DISMISSED, f"superseded by {result.keyword}", inbound)
    return outcome


def _confirm(inbound: InboundSms, number: str, result: keywords.KeywordResult) -> str:
    """YES / Y: confirm a pending double opt-in, or re-subscribe an opted-out number."""
    profile = inbound.profile
    if profile and consent_status(profile=profile, channel=SMS) == ConsentStatus.PENDING:
        pending = Subscription.objects.get(profile=profile, channel=SMS, topic=None).last_event
        return _opt_in(
            inbound,
            number,
            result,
            source=ConsentSource.DOUBLE_OPT_IN,
            outcome=Outcome.CONFIRMED,
            evidence={"pending_event": pending.pk},
            disclosure=pending.disclosure,
        )
    if _is_opted_out(profile, number):
        return _opt_in(
            inbound, number, result, source=ConsentSource.SMS_KEYWORD, outcome=Outcome.RESUBSCRIBED
        )
    return ""


def _is_opted_out(profile: Profile | None, number: str) -> bool:
    if profile and consent_status(profile=profile, channel=SMS) == ConsentStatus.UNSUBSCRIBED:
        return True
    return Suppression.objects.filter(
        address=number, channel=SMS, reason__in=PERSON_LIFTABLE, lifted_at__isnull=True
    ).exists()


def _reply(inbound: InboundSms, number: str) -> str:
    """Not a keyword: a reply on the timeline (an unknown number gets a profile, no consent)."""
    if inbound.profile is None:
        inbound.profile = profile_upsert(phone=number)
    event_track(
        profile=inbound.profile,
        name="sms_replied",
        properties={
            "body": inbound.body,
            "message_sid": inbound.message_sid,
            "to": inbound.to_number,
        },  # fmt: skip
        source=EventSource.WEBHOOK,
        channel=SMS,
        idempotency_key=f"sms-inbound:{inbound.message_sid}",
    )
    return Outcome.REPLY


def _close_reviews(number: str, status: str, note: str, inbound: InboundSms) -> None:
    """A clear STOP or START after an unclear reply settles the open review for the number."""
    KeywordReview.objects.filter(address=number, status=ReviewStatus.OPEN).update(
        status=status, reviewed_at=timezone.now(), note=f"{note} ({inbound.message_sid})"
    )


def keyword_review_opt_out(*, review: KeywordReview, actor) -> bool:
    """A reviewer reads the unclear reply as an opt-out: record it on the ledger.

    False when the review was already settled (by someone else, or by a later keyword).
    """
    with transaction.atomic():
        if not _settle(review, ReviewStatus.OPTED_OUT, actor):
            return False
        inbound = review.inbound
        consent_record(
            profile=review.profile or Profile.objects.filter(phone=review.address).first(),
            address=review.address,
            channel=SMS,
            action=ConsentAction.OPT_OUT,
            source=ConsentSource.SMS_KEYWORD,
            actor=actor,
            evidence={
                "keyword_review": review.pk,
                "decision": "treated as an opt-out",
                "reviewed_by": actor.get_username(),
                "body": inbound.body,
                "message_sid": inbound.message_sid,
                "received_at": inbound.received_at.isoformat(),
                "from": inbound.from_number,
                "to": inbound.to_number,
            },
            idempotency_key=f"keyword-review:{review.pk}",
        )
    return True


def keyword_review_dismiss(*, review: KeywordReview, actor) -> bool:
    """Not an opt-out: the review closes and SMS marketing to the number resumes."""
    return _settle(review, ReviewStatus.DISMISSED, actor)


def keyword_reviews_open() -> int:
    return KeywordReview.objects.filter(status=ReviewStatus.OPEN).count()


def _settle(review: KeywordReview, status: str, actor) -> bool:
    """Claim the open review with a conditional UPDATE: two reviewers never both act."""
    now = timezone.now()
    claimed = KeywordReview.objects.filter(pk=review.pk, status=ReviewStatus.OPEN).update(
        status=status, reviewed_by=actor, reviewed_at=now
    )
    if claimed:
        review.status, review.reviewed_by, review.reviewed_at = status, actor, now
    return bool(claimed)
