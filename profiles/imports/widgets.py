"""django-import-export widgets that clean one import cell each; raise ValueError with a reason.

The fast path and the admin import use the same widgets through ProfileResource, so a value
is judged the same way whichever way the file came in.
"""

import json
import re
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.core.validators import EmailValidator
from django.dispatch import receiver
from import_export.widgets import Widget

from profiles.identity import EMAIL_MAX_LENGTH
from profiles.imports.phones import is_mobile, parse_phone  # noqa: F401 (re-exported)
from profiles.models import _known_time_zones

OPT_IN, OPT_OUT, CLEANED = "opt_in", "opt_out", "cleaned"
CONSENT_VALUES = {
    **dict.fromkeys(["yes", "y", "true", "t", "1", "x", "subscribed", "subscribe"], OPT_IN),
    **dict.fromkeys(["optin", "opt_in", "opt-in", "opted in", "opted_in", "consented"], OPT_IN),
    **dict.fromkeys(["no", "n", "false", "f", "0", "", "never_subscribed"], None),
    **dict.fromkeys(["never subscribed", "not_subscribed", "not subscribed", "pending"], None),
    **dict.fromkeys(["unsubscribed", "unsubscribe", "opt_out", "optout", "opt-out"], OPT_OUT),
    **dict.fromkeys(["opted out", "opted_out", "revoked"], OPT_OUT),
    **dict.fromkeys(["cleaned", "bounced"], CLEANED),
}
_EMAIL = EmailValidator()
# Compiled now: Django's lazy regex costs ~1 us a call through its proxy object.
_EMAIL_USER = re.compile(_EMAIL.user_regex.pattern, _EMAIL.user_regex.flags)


class TextWidget(Widget):
    def __init__(self, max_length: int, label: str = "value"):
        super().__init__()
        self.max_length, self.label = max_length, label

    def clean(self, value, row=None, **kwargs) -> str:
        text = str(value or "").strip()
        if len(text) > self.max_length:
            raise ValueError(f"{self.label} is over {self.max_length} characters")
        return text


class EmailWidget(Widget):
    def clean(self, value, row=None, **kwargs) -> str | None:
        email = str(value or "").strip().lower()
        if not email:
            return None
        if not is_valid_email(email):
            raise ValueError(f"invalid email address: {value!r}")
        return email


def is_valid_email(email: str) -> bool:
    """Django's EmailValidator, with the domain check cached (lists share few domains)."""
    if "@" not in email or len(email) > EMAIL_MAX_LENGTH:
        return False
    user, domain = email.rsplit("@", 1)
    return bool(_EMAIL_USER.match(user)) and _valid_domain(domain)


@lru_cache(maxsize=8192)
def _valid_domain(domain: str) -> bool:
    return domain in _EMAIL.domain_allowlist or _EMAIL.validate_domain_part(domain)


class PhoneWidget(Widget):
    """E.164 for a valid number; national numbers use PHONE_DEFAULT_REGION."""

    def clean(self, value, row=None, **kwargs) -> str | None:
        return self.clean_phone(value)[0]

    def clean_phone(self, value) -> tuple[str | None, bool | None]:
        """(E.164, may receive SMS): the import's row cleaner keeps both."""
        # Shopify and Excel users prefix numbers with ' so the + survives a spreadsheet.
        raw = str(value or "").strip().lstrip("'").strip()
        if not raw:
            return None, None
        e164, mobile = parse_phone(raw, default_region())
        if e164 is None:
            raise ValueError(f"invalid phone number: {value!r}")
        return e164, mobile


@lru_cache(maxsize=1)
def default_region() -> str:
    # Read once: a settings lookup per row costs more than the rest of the cell.
    return settings.PHONE_DEFAULT_REGION


@receiver(setting_changed)
def _forget_region(*, setting, **kwargs) -> None:
    if setting == "PHONE_DEFAULT_REGION":
        default_region.cache_clear()


class TimeZoneWidget(Widget):
    def clean(self, value, row=None, **kwargs) -> str:
        name = str(value or "").strip()
        if not name:
            return ""
        zone = _zones_by_lower_name().get(name.lower())
        if zone is None:
            raise ValueError(f"{name!r} is not an IANA time zone name (e.g. America/Chicago)")
        return zone


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {zone.lower(): zone for zone in _known_time_zones()}


class CountryWidget(Widget):
    def clean(self, value, row=None, **kwargs) -> str:
        code = str(value or "").strip().upper()
        if code and not re.fullmatch(r"[A-Z]{2}", code):
            raise ValueError(f"country {value!r} is not a 2-letter ISO code (map it to traits.)")
        return code


class ConsentWidget(Widget):
    """yes / SUBSCRIBED -> opt_in; UNSUBSCRIBED -> opt_out; no / NEVER_SUBSCRIBED -> None."""

    def __init__(self, channel: str):
        super().__init__()
        self.channel = channel

    def clean(self, value, row=None, **kwargs) -> str | None:
        key = str(value or "").strip().lower()
        if key not in CONSENT_VALUES:
            raise ValueError(f"unrecognised {self.channel} consent value {value!r}")
        return CONSENT_VALUES[key]


class ConsentTimeWidget(Widget):
    """ISO 8601 or "YYYY-MM-DD HH:MM:SS"; without an offset it is UTC (as the exports write)."""

    def clean(self, value, row=None, **kwargs) -> datetime | None:
        text = str(value or "").strip()
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text.replace(" UTC", "").replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"unreadable consent time {value!r}") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TraitsWidget(Widget):
    """Exports traits as JSON; imports come through traits.<name> columns instead."""

    def render(self, value, obj=None, **kwargs) -> str:
        return json.dumps(value or {}, ensure_ascii=False, sort_keys=True)
