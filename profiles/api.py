"""The shop backend's API: Segment-spec `identify`, `track` and `batch` with Bearer tokens.

Every call is validated whole before anything is written, so a rejected call creates
nothing. A batch is one transaction with a savepoint per item: each item lands or is
rejected on its own, and the batch costs one commit.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from profiles import services
from profiles.identity import IdentityConflict, IdentityError, normalise_email, normalise_phone
from profiles.models import ApiToken, Event, EventSource, Profile

# Segment's reserved identify traits, mapped onto Profile fields.
TRAIT_FIELDS = {
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "timezone": "time_zone",
    "locale": "locale",
    "country": "country",
}
IDENTITY_TRAITS = {"email", "phone"}


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def api_view(view):
    """Token check, size limit and JSON parsing shared by the three endpoints.

    CSRF does not apply: the API authenticates with a Bearer token, never a cookie.
    """

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest) -> JsonResponse:
        if _authenticate(request) is None:
            response = _error("missing or invalid API token", 401)
            response["WWW-Authenticate"] = 'Bearer realm="tandem"'
            return response
        if _content_length(request) > settings.API_MAX_BODY_BYTES:
            return _error(f"request body over {settings.API_MAX_BODY_BYTES} bytes", 413)
        try:
            payload = json.loads(request.body or b"")
        except RequestDataTooBig:
            return _error(f"request body over {settings.API_MAX_BODY_BYTES} bytes", 413)
        except (ValueError, UnicodeDecodeError):
            return _error("malformed JSON body")
        if not isinstance(payload, dict):
            return _error("the body must be a JSON object")
        try:
            return view(request, payload)
        except ApiError as exc:
            return _error(exc.message, exc.status)

    return wrapper


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # reading the body enforces the limit anyway (RequestDataTooBig)


def _authenticate(request: HttpRequest) -> ApiToken | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    token = ApiToken.objects.authenticate(raw.strip())
    if token is not None and (
        token.last_used_at is None or timezone.now() - token.last_used_at > _USAGE_RESOLUTION
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


_USAGE_RESOLUTION = timezone.timedelta(minutes=1)


@dataclass
class Call:
    """One validated identify or track call, ready to apply."""

    kind: str
    identity: dict[str, str | None]
    fields: dict[str, Any]
    event: str | None = None
    properties: dict[str, Any] | None = None
    message_id: str | None = None
    timestamp: datetime | None = None
    warnings: list[str] | None = None


def parse_call(payload: dict[str, Any], kind: str) -> Call:
    """Validate a Segment-shaped call; raises ApiError with the reason."""
    if not isinstance(payload, dict):
        raise ApiError("each call must be a JSON object")
    traits = _object(payload, "traits")
    context_traits = _object(_object(payload, "context"), "traits")
    all_traits = {**context_traits, **traits}
    warnings: list[str] = []
    identity = _identity(payload, all_traits, warnings)
    call = Call(kind=kind, identity=identity, fields={}, warnings=warnings)
    call.message_id = _string(payload, "messageId")
    call.timestamp = _timestamp(payload)
    if kind == "identify":
        call.fields = _profile_fields(traits, warnings)
    else:
        event = payload.get("event")
        if not isinstance(event, str) or not event.strip():
            raise ApiError("a track call needs an `event` name")
        call.event = event.strip()
        call.properties = _object(payload, "properties")
    return call


def _identity(payload, traits, warnings) -> dict[str, str | None]:
    user_id = payload.get("userId")
    if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, (str, int))):
        raise ApiError("`userId` must be a string")
    external_id = (str(user_id).strip() or None) if user_id is not None else None
    identity: dict[str, str | None] = {"external_id": external_id, "email": None, "phone": None}
    for key, normalise in (("email", normalise_email), ("phone", normalise_phone)):
        try:
            identity[key] = normalise(traits.get(key))
        except IdentityError as exc:
            warnings.append(f"{exc}; ignored")
    if not any(identity.values()):
        bad = "; ".join(warnings)
        raise ApiError(bad or "no usable identifier: send userId or traits.email / traits.phone")
    return identity


def _profile_fields(traits: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in traits.items():
        if key in TRAIT_FIELDS:
            fields[TRAIT_FIELDS[key]] = "" if value is None else str(value)
        elif key not in IDENTITY_TRAITS:
            extra[key] = value
    country = fields.get("country", "")
    if country and not (len(country) == 2 and country.isalpha()):
        # Keep what was sent as a trait rather than guess a code from a name.
        warnings.append(f"country {country!r} is not an ISO 3166-1 alpha-2 code; kept as a trait")
        extra["country"] = fields.pop("country")
    elif country:
        fields["country"] = country.upper()
    if extra:
        fields["traits"] = extra
    return fields


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(f"`{key}` must be an object")
    return value


def _string(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int)):
        raise ApiError(f"`{key}` must be a string")
    return str(value)[:255]


def _timestamp(payload: dict[str, Any]) -> datetime | None:
    raw = payload.get("timestamp")
    if raw in (None, ""):
        return None
    try:
        # parse_datetime returns None for a wrong shape, raises for a right shape with
        # impossible values (month 13).
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ApiError("`timestamp` must be an ISO 8601 date-time")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def apply_call(call: Call) -> dict[str, Any]:
    profile = _resolve_profile(call)
    if call.kind != "track":
        return _result(call, profile)
    event = _build_event(call, profile)
    return _result(call, profile, services.event_track_many(events=[event])[0])


def _resolve_profile(call: Call) -> Profile:
    try:
        return services.profile_upsert(**call.identity, **call.fields)
    except IdentityError as exc:
        raise ApiError(str(exc), 409 if isinstance(exc, IdentityConflict) else 400) from exc
    except ValueError as exc:
        raise ApiError(str(exc)) from exc


def _build_event(call: Call, profile: Profile) -> Event:
    try:
        return _event_from(call, profile)
    except ValueError as exc:
        raise ApiError(str(exc)) from exc


def _event_from(call: Call, profile: Profile) -> Event:
    return services.event_build(
        profile=profile,
        name=call.event or "",
        properties=call.properties,
        occurred_at=call.timestamp,
        idempotency_key=call.message_id,
        source=EventSource.API,
    )


def _result(call: Call, profile: Profile, event: Event | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": True, "profileId": profile.pk}
    if event is not None:
        result["eventId"] = event.pk
    if call.warnings:
        result["warnings"] = call.warnings
    return result


def _single(kind: str):
    @api_view
    def view(request: HttpRequest, payload: dict[str, Any]) -> JsonResponse:
        call = parse_call(payload, kind)
        with transaction.atomic():
            result = apply_call(call)
        return JsonResponse(result)

    view.__name__ = kind
    return view


identify = _single("identify")
track = _single("track")


@api_view
def batch(request: HttpRequest, payload: dict[str, Any]) -> JsonResponse:
    items = payload.get("batch")
    if not isinstance(items, list) or not items:
        raise ApiError("`batch` must be a non-empty list of identify or track calls")
    if len(items) > settings.API_MAX_BATCH_ITEMS:
        raise ApiError(f"a batch holds at most {settings.API_MAX_BATCH_ITEMS} calls")
    results: list[dict[str, Any]] = [{} for _ in items]
    calls: list[Call | ApiError] = []
    for item in items:
        try:
            calls.append(_parse_item(item))
        except ApiError as exc:
            calls.append(exc)
    tracks: list[tuple[int, Call, Event]] = []
    known: services.ProfileIndex | None = None
    with transaction.atomic():
        for index, call in enumerate(calls):
            try:
                if isinstance(call, ApiError):
                    raise call
                if call.kind == "identify":
                    # Store the tracks before it: a merge must not leave them pointing
                    # at the profile it absorbs.
                    _store_tracks(tracks, results)
                    known = None
                if known is None:
                    known = services.ProfileIndex(
                        [c.identity for c in calls[index:] if isinstance(c, Call)]
                    )
                profile = known.known(fields=call.fields, **call.identity)
                if profile is None:
                    # A write is due. Every pending track's profile is in the index, so
                    # only a call naming an indexed profile can merge one away (even with
                    # a profile another request just made): then store the tracks first.
                    named = known.named(**call.identity)
                    if named:
                        _store_tracks(tracks, results)
                    profile = _resolve_profile(call)
                    known = None if named > 1 else known
                    if known is not None:
                        known.remember(profile)
                if call.kind == "track":
                    tracks.append((index, call, _build_event(call, profile)))
                else:
                    results[index] = _result(call, profile)
            except ApiError as exc:
                results[index] = {"ok": False, "error": exc.message}
        _store_tracks(tracks, results)
    results = [{"index": index, **result} for index, result in enumerate(results)]
    failed = sum(1 for result in results if not result["ok"])
    return JsonResponse(
        {
            "ok": failed == 0,
            "succeeded": len(results) - failed,
            "failed": failed,
            "results": results,
        }
    )


def _parse_item(item: Any) -> Call:
    kind = item.get("type") if isinstance(item, dict) else None
    if kind not in ("identify", "track"):
        raise ApiError("`type` must be identify or track")
    return parse_call(item, kind)


def _store_tracks(tracks: list[tuple[int, Call, Event]], results: list[dict[str, Any]]) -> None:
    """One insert for the pending track calls (consecutive calls of one batch)."""
    if not tracks:
        return
    stored = services.event_track_many(events=[event for _, _, event in tracks])
    for (index, call, built), event in zip(tracks, stored, strict=True):
        results[index] = _result(call, built.profile, event)
    tracks.clear()
