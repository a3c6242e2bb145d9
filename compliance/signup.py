"""The public sign-up form and its double opt-in, as services.

A sign-up only ever asks: consent stays pending until the address confirms it (the
email's link, or a YES reply to the text), because anyone can type anyone's address
into a public form. For the same reason the form never merges profiles or overwrites an
identifier already on file: each address goes to the profile that holds it, or to a new
one.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from compliance import notify
from compliance.disclosures import (
    EMAIL_MARKETING,
    SMS_MARKETING,
    brand,
    disclosure_current,
    sms_confirmation_text,
)
from compliance.models import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus
from compliance.services import consent_record, consent_status
from compliance.tokens import confirm_url
from profiles.models import Channel, Profile
from profiles.services import profile_upsert

# A public form must not become a way to flood someone's phone or inbox with confirmations.
RESEND_AFTER = timedelta(minutes=10)


@dataclass
class SignupResult:
    email_profile: Profile | None = None
    sms_profile: Profile | None = None
    events: list[ConsentEvent] = field(default_factory=list)


def signup_submit(
    *,
    email: str | None,
    phone: str | None,
    first_name: str = "",
    last_name: str = "",
    email_consent: bool = False,
    sms_consent: bool = False,
    evidence: dict[str, Any],
) -> SignupResult:
    """Record pending consent for each box ticked and send the confirmations.

    `email` and `phone` are already normalised (lower-case email, E.164 mobile number).
    """
    names = {"first_name": first_name, "last_name": last_name}
    by_email, by_phone = _signup_profiles(email=email, phone=phone, names=names)
    result = SignupResult()
    if email_consent and by_email:
        result.email_profile = by_email
        result.events.append(_ask(by_email, Channel.EMAIL, email, evidence))
    if sms_consent and by_phone:
        result.sms_profile = by_phone
        result.events.append(_ask(by_phone, Channel.SMS, phone, evidence))
    return result


def _signup_profiles(*, email, phone, names) -> tuple[Profile | None, Profile | None]:
    """(profile for the email, profile for the phone), never merging or overwriting."""
    query = Q(pk__in=[])
    query |= Q(email=email) if email else Q()
    query |= Q(phone=phone) if phone else Q()
    found = list(Profile.objects.filter(query))
    by_email = next((p for p in found if email and p.email == email), None)
    by_phone = next((p for p in found if phone and str(p.phone or "") == phone), None)
    if email and phone and not by_email and not by_phone:
        both = profile_upsert(email=email, phone=phone, **names)
        return both, both
    if phone and not by_phone:
        if by_email and not by_email.phone:
            by_phone = profile_upsert(email=email, phone=phone)
        else:
            by_phone = profile_upsert(phone=phone, **names)
    if email and not by_email:
        if by_phone and not by_phone.email:
            by_email = profile_upsert(email=email, phone=phone)
        else:
            by_email = profile_upsert(email=email, **names)
    return by_email, by_phone


def _ask(profile: Profile, channel: str, address: str, evidence: dict) -> ConsentEvent:
    """A pending consent row, then the confirmation unless subscribed or asked just now."""
    current = consent_status(profile=profile, channel=channel)
    just_sent = ConsentEvent.objects.filter(
        address=address,
        channel=channel,
        action=ConsentAction.PENDING,
        source=ConsentSource.SIGNUP_FORM,
        occurred_at__gte=timezone.now() - RESEND_AFTER,
    ).exists()
    key = EMAIL_MARKETING if channel == Channel.EMAIL else SMS_MARKETING
    event = consent_record(
        profile=profile,
        channel=channel,
        action=ConsentAction.PENDING,
        source=ConsentSource.SIGNUP_FORM,
        address=address,
        disclosure=disclosure_current(key=key),
        evidence=evidence,
    )
    # Refused pending rows (the person opted out before) still get a confirmation: only
    # their own confirmation may lift their opt-out.
    if current != ConsentStatus.SUBSCRIBED and not just_sent:
        _send_confirmation(profile, channel, event.address)
    return event


def _send_confirmation(profile: Profile, channel: str, address: str) -> None:
    if channel == Channel.SMS:
        notify.send(
            "sms_confirmation", profile=profile, address=address, body=sms_confirmation_text()
        )
        return
    notify.send(
        "email_confirmation",
        profile=profile,
        address=address,
        subject=f"Please confirm your subscription to {brand()['company']}",
        body=confirmation_email_body(profile, address),
    )


def confirmation_email_body(profile: Profile, address: str) -> str:
    b = brand()
    return (
        f"Hi {profile.first_name or 'there'},\n\n"
        f"Please confirm that you want news and offers from {b['company']} at {address}:\n\n"
        f"{confirm_url(profile, address=address)}\n\n"
        "If you did not sign up, ignore this email: you will not hear from us.\n\n"
        f"{b['company']}\n{b['postal_address']}\n"
    )


def signup_confirm(
    *, profile: Profile, address: str, token: str, evidence: dict[str, Any]
) -> ConsentEvent:
    """The person clicked the confirmation link: email consent, with the disclosure seen.

    Idempotent per link: confirming twice returns the first ledger row.
    """
    pending = (
        ConsentEvent.objects.filter(
            profile=profile, channel=Channel.EMAIL, address=address, action=ConsentAction.PENDING
        )
        .order_by("-occurred_at", "-id")
        .first()
    )
    digest = hashlib.sha256(token.encode()).hexdigest()[:40]
    return consent_record(
        profile=profile,
        channel=Channel.EMAIL,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.DOUBLE_OPT_IN,
        address=address,
        disclosure=pending.disclosure if pending else None,
        evidence={**evidence, "pending_event": pending.pk if pending else None},
        idempotency_key=f"double-opt-in:{digest}",
    )
