"""Signed links to a person's hosted pages: preference centre, one-click unsubscribe, confirm.

Each purpose has its own salt, so a token made for one page never opens another. A token
carries the profile id and the profile's `token_version`: rotating the version (admin
action) retires every link sent before. Tokens expire after HOSTED_LINK_MAX_AGE_DAYS
(default 400 days: over a year, well past CAN-SPAM's 30 days). Signatures are HMAC-SHA256
and compared in constant time by django.core.signing.
"""

import base64
import hashlib
import hmac
import json
import time
import zlib
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from json.encoder import encode_basestring_ascii

from django.conf import settings
from django.core import signing
from django.utils.encoding import force_bytes

from compliance.models import ContactPreference
from profiles.models import Profile
from profiles.reverse import path_with

PREFERENCES = "tandem.compliance.preferences"
UNSUBSCRIBE = "tandem.compliance.unsubscribe"
CONFIRM = "tandem.compliance.subscribe-confirm"
# A double opt-in link is a fresh request, not a standing one: it lapses sooner.
CONFIRM_MAX_AGE_DAYS = 30


class InvalidToken(Exception):
    """Tampered, expired, retired, or naming nobody."""


@dataclass(frozen=True)
class LinkTarget:
    profile: Profile
    channel: str = ""
    topic: str = ""  # topic key; empty = every marketing topic of the channel
    address: str = ""


_PREFERENCE = Profile.preference.related  # the profile's ContactPreference, if any


def _version(profile: Profile) -> int:
    if _PREFERENCE.is_cached(profile):  # read with the profile (select_related): no query
        preference = _PREFERENCE.get_cached_value(profile)
        return 1 if preference is None else preference.token_version
    try:
        return profile.preference.token_version
    except ContactPreference.DoesNotExist:
        return 1


def make_token(purpose: str, profile: Profile, **extra: str) -> str:
    payload = {"p": profile.pk, "v": _version(profile), **{k: v for k, v in extra.items() if v}}
    return _dumps(payload, purpose)


def _dumps(payload: dict, salt: str) -> str:
    """signing.dumps(payload, salt=salt, compress=True), character for character, with the
    HMAC key derived once per salt and secret (a dispatch batch signs two links per email)."""
    data = _json(payload).encode()  # ASCII (json.dumps escapes the rest), so latin-1 too
    return _sign(data, _signer(salt, settings.SECRET_KEY))


def _sign(data: bytes, signer) -> str:
    """The rest of signing.dumps(compress=True) for the payload's JSON bytes."""
    compressed = zlib.compress(data)
    if len(compressed) < len(data) - 1:
        body = "." + _b64(compressed)
    else:
        body = _b64(data)
    value = f"{body}:{_timestamp(int(time.time()))}".encode()
    signer = signer.copy()
    signer.update(value)
    return f"{value.decode()}:{_b64(signer.digest())}"


def _json(payload: dict) -> str:
    """json.dumps(payload, separators=(",", ":")) for a payload of ints and strings (the
    only kind tokens carry), without the encoder's per-call set-up; json.dumps otherwise."""
    parts = []
    for key, value in payload.items():
        kind = type(value)
        if kind is int:
            parts.append(f"{encode_basestring_ascii(key)}:{int.__repr__(value)}")
        elif kind is str:
            parts.append(f"{encode_basestring_ascii(key)}:{encode_basestring_ascii(value)}")
        else:
            return json.dumps(payload, separators=(",", ":"))
    return "{" + ",".join(parts) + "}"


def _b64(data: bytes) -> str:
    """signing.b64_encode(data).decode()."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@lru_cache(maxsize=4)
def _timestamp(seconds: int) -> str:
    """signing.b62_encode(seconds): the same for every token signed within a second."""
    return signing.b62_encode(seconds)


@lru_cache(maxsize=32)
def _signer(salt: str, secret: str | bytes):
    """An HMAC-SHA256 with salted_hmac's derived key for TimestampSigner(salt=salt), keyed
    once: each token signs a copy of it."""
    key = hashlib.sha256(force_bytes(salt + "signer") + force_bytes(secret)).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def read_token(purpose: str, token: str, *, max_age_days: int | None = None) -> LinkTarget:
    """The target of a valid token, or InvalidToken (never a partial answer)."""
    days = max_age_days or settings.HOSTED_LINK_MAX_AGE_DAYS
    try:
        payload = signing.loads(token, salt=purpose, max_age=timedelta(days=days))
    except signing.BadSignature as error:  # SignatureExpired is a BadSignature
        raise InvalidToken(str(error)) from error
    if not isinstance(payload, dict) or not isinstance(payload.get("p"), int):
        raise InvalidToken("malformed payload")
    profile = Profile.objects.select_related("preference").filter(pk=payload["p"]).first()
    if profile is None or payload.get("v") != _version(profile):
        raise InvalidToken("the link was retired or names nobody")
    return LinkTarget(
        profile=profile,
        channel=payload.get("c", ""),
        topic=payload.get("t", ""),
        address=payload.get("a", ""),
    )


def rotate(profile: Profile) -> int:
    """Retire every link sent to the profile so far; returns the new version."""
    preference, _ = ContactPreference.objects.get_or_create(profile=profile)
    preference.token_version += 1
    preference.save(update_fields=["token_version", "updated_at"])
    profile.preference = preference  # links made from this instance use the new version
    return preference.token_version


def absolute(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


def preferences_url(profile: Profile) -> str:
    return absolute(path_with("compliance:preferences", make_token(PREFERENCES, profile)))


def unsubscribe_url(profile: Profile, *, channel: str = "email", topic: str = "") -> str:
    """The RFC 8058 one-click URL (canonical, with its trailing slash)."""
    token = make_token(UNSUBSCRIBE, profile, c=channel, t=topic)
    return absolute(path_with("compliance:unsubscribe", token))


class HostedLinks:
    """preferences_url and unsubscribe_url for a batch of people: the same URLs, with the
    base URL, script prefix and URL patterns read once (not twice per email)."""

    SLOT = "tandem-token-slot"

    def __init__(self) -> None:
        self._preferences = absolute(path_with("compliance:preferences", self.SLOT)).split(
            self.SLOT
        )
        self._unsubscribe = absolute(path_with("compliance:unsubscribe", self.SLOT)).split(
            self.SLOT
        )
        secret = settings.SECRET_KEY
        self._signers = {salt: _signer(salt, secret) for salt in (PREFERENCES, UNSUBSCRIBE)}

    def preferences_url(self, profile: Profile) -> str:
        before, after = self._preferences
        return f"{before}{self._token(PREFERENCES, profile)}{after}"

    def unsubscribe_url(self, profile: Profile, *, channel: str = "email", topic: str = "") -> str:
        before, after = self._unsubscribe
        return f"{before}{self._token(UNSUBSCRIBE, profile, c=channel, t=topic)}{after}"

    def _token(self, purpose: str, profile: Profile, **extra: str) -> str:
        """make_token(purpose, profile, **extra), with the batch's keyed signer."""
        pk, version = profile.pk, _version(profile)
        if type(pk) is not int or type(version) is not int:
            return make_token(purpose, profile, **extra)
        data = f'{{"p":{pk},"v":{version}'
        for key, value in extra.items():
            if value:
                if type(value) is not str:
                    return make_token(purpose, profile, **extra)
                data += f",{encode_basestring_ascii(key)}:{encode_basestring_ascii(value)}"
        return _sign(f"{data}}}".encode(), self._signers[purpose])


def confirm_url(profile: Profile, *, address: str) -> str:
    """The email double opt-in link for `address` (the address the person typed)."""
    token = make_token(CONFIRM, profile, c="email", a=address)
    return absolute(path_with("compliance:subscribe_confirm", token))
