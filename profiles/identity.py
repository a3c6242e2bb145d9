"""Normalising identifiers: lower-cased emails and E.164 phone numbers."""

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# The widths of Profile.email and Profile.external_id: longer values cannot be stored
# (PostgreSQL refuses them; SQLite would keep them silently).
EMAIL_MAX_LENGTH = 254
EXTERNAL_ID_MAX_LENGTH = 255


class IdentityError(ValueError):
    """The call cannot be tied to a profile (no identifier, or a bad one)."""


class IdentityConflict(IdentityError):
    """The identifiers point at profiles that belong to different people."""


@dataclass(frozen=True)
class Identity:
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None

    def __bool__(self) -> bool:
        return bool(self.external_id or self.email or self.phone)


def normalise_email(raw: str | None) -> str | None:
    if raw is None or not str(raw).strip():
        return None
    email = str(raw).strip().lower()
    try:
        validate_email(email)  # allows up to 320 characters, more than we store
    except ValidationError as exc:
        raise IdentityError(f"invalid email address: {raw!r}") from exc
    if len(email) > EMAIL_MAX_LENGTH:
        raise IdentityError(f"email address over {EMAIL_MAX_LENGTH} characters")
    return email


@lru_cache(maxsize=65536)
def _parse_phone(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(raw: str | None, *, region: str | None = None) -> str | None:
    """E.164 for a valid number; national numbers use PHONE_DEFAULT_REGION."""
    if raw is None or not str(raw).strip():
        return None
    e164 = _parse_phone(str(raw).strip(), region or settings.PHONE_DEFAULT_REGION)
    if e164 is None:
        raise IdentityError(f"invalid phone number: {raw!r}")
    return e164


def normalise_external_id(raw: object) -> str | None:
    if raw is None:
        return None
    value = str(raw).strip()
    if len(value) > EXTERNAL_ID_MAX_LENGTH:
        raise IdentityError(f"external id over {EXTERNAL_ID_MAX_LENGTH} characters")
    return value or None


def build_identity(*, external_id=None, email=None, phone=None) -> Identity:
    """Normalise all three; raises IdentityError for a malformed email or phone."""
    return Identity(
        external_id=normalise_external_id(external_id),
        email=normalise_email(email),
        phone=normalise_phone(phone),
    )
