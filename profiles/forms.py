"""Form fields shared by the admin's tools that act on one profile."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from profiles.identity import IdentityError, normalise_email, normalise_phone
from profiles.models import Profile


class ProfileField(forms.CharField):
    """A profile named the way a marketer knows it: email, phone, external id or id.

    An address with "@" is an email (any case); otherwise an exact external id wins, then
    a numeric id, then a phone number as typed (national numbers in PHONE_DEFAULT_REGION).
    Cleans to the Profile, or says which identifiers it tried.
    """

    default_error_messages = {
        "unknown": "No profile has this email, phone number, external id or id.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Profile")
        kwargs.setdefault("max_length", 255)
        kwargs.setdefault("help_text", "Email, phone number, external id or profile id")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return value.pk if isinstance(value, Profile) else value

    def clean(self, value):
        raw = super().clean(value)
        if not raw:
            return None
        profile = find_profile(raw)
        if profile is None:
            raise ValidationError(self.error_messages["unknown"], code="unknown")
        return profile


def find_profile(raw: str) -> Profile | None:
    raw = raw.strip()
    if "@" in raw:
        try:
            return Profile.objects.filter(email=normalise_email(raw)).first()
        except IdentityError:
            return None
    if found := Profile.objects.filter(external_id=raw).first():
        return found
    if raw.isdigit() and (found := Profile.objects.filter(pk=int(raw)).first()):
        return found
    try:
        phone = normalise_phone(raw)
    except IdentityError:
        return None
    return Profile.objects.filter(phone=phone).first()
