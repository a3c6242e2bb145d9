"""The consent wording the hosted pages show, and the stored version of it.

The wording is built from the brand settings. What a page shows is always a stored
DisclosureText row: when the settings (or the wording below) change, the next request
stores a new version, so the ledger links the exact text the person saw.
"""

from django.conf import settings
from django.db import IntegrityError, transaction

from compliance.models import DisclosureText

EMAIL_MARKETING = "email-marketing"
SMS_MARKETING = "sms-marketing"
SMS_NEW_NUMBER = "sms-marketing-new-number"

# Changing a wording here creates a new version on first use; old versions stay stored.
WORDING = {
    EMAIL_MARKETING: (
        "email",
        "Email me news and offers from {company}. I can unsubscribe at any time with the "
        "link at the bottom of every email.",
    ),
    SMS_MARKETING: (
        "sms",
        "By checking this box, I agree to receive recurring automated marketing text "
        "messages ({program}) from {sms_brand} at the number provided. Consent is not a "
        "condition of purchase. {frequency}. Msg & data rates may apply. Reply HELP for "
        "help, STOP to cancel.",
    ),
    SMS_NEW_NUMBER: (
        "sms",
        "When I reply YES to the confirmation text, I agree to receive recurring automated "
        "marketing text messages ({program}) from {sms_brand} at this number. Consent is not "
        "a condition of purchase. {frequency}. Msg & data rates may apply. Reply HELP for "
        "help, STOP to cancel.",
    ),
}


def brand() -> dict[str, str]:
    """The names and contacts every hosted page and confirmation shows."""
    return {
        "company": settings.COMPANY_NAME,
        "postal_address": settings.COMPANY_POSTAL_ADDRESS,
        "sms_brand": settings.SMS_BRAND_NAME,
        "help_contact": settings.SMS_HELP_CONTACT,
        "program": settings.SMS_PROGRAM_NAME,
        "frequency": settings.SMS_MESSAGE_FREQUENCY.rstrip("."),
    }


def disclosure_wording(key: str) -> str:
    return WORDING[key][1].format(**brand())


def disclosure_current(*, key: str) -> DisclosureText:
    """The stored version of today's wording for `key` (stored now if it is new)."""
    text = disclosure_wording(key)
    latest = DisclosureText.objects.filter(key=key).order_by("-version").first()
    if latest is not None and latest.text == text:
        return latest
    try:
        with transaction.atomic():
            return DisclosureText.objects.create(
                key=key,
                version=(latest.version + 1) if latest else 1,
                channel=WORDING[key][0],
                text=text,
            )
    except IntegrityError:
        # Another request stored the same new version first.
        return DisclosureText.objects.get(key=key, text=text)


def sms_confirmation_text() -> str:
    """The double opt-in text (CTIA): brand, program, frequency, rates, HELP and STOP."""
    b = brand()
    return (
        f"{b['sms_brand']}: Reply YES to confirm you want {b['program']} texts. "
        f"{b['frequency']}. Msg & data rates may apply. Reply HELP for help, STOP to cancel."
    )
