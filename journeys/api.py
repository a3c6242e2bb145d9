"""POST /api/v1/journeys/enter: the shop's backend puts a person into an API-triggered journey.

Body: {"journey": <id>, "userId" / "email" / "traits": {...} as in identify,
"properties": {...}}. The same Bearer token, limits and JSON errors as the other calls.
"""

from typing import Any

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from journeys.models import Journey, JourneyStatus, TriggerType
from journeys.services import enrollment_create
from profiles.api import ApiError, api_view, apply_call, parse_call
from profiles.models import Profile


@api_view
def enter(request: HttpRequest, payload: dict[str, Any]) -> JsonResponse:
    journey = _journey(payload.get("journey"))
    properties = payload.get("properties") or {}
    if not isinstance(properties, dict):
        raise ApiError("properties must be an object")
    call = parse_call(payload, "identify")
    with transaction.atomic():
        profile = Profile.objects.get(pk=apply_call(call)["profileId"])
        enrollment = enrollment_create(
            journey=journey, profile=profile, context={"trigger": "api", "properties": properties}
        )
    result = {"ok": True, "profileId": profile.pk, "enrolled": enrollment is not None}
    if enrollment is not None:
        result["enrollmentId"] = enrollment.pk
    else:
        result["reason"] = "already in the journey, or its re-entry rule says no"
    return JsonResponse(result)


def _journey(reference: Any) -> Journey:
    if not isinstance(reference, int) or isinstance(reference, bool):
        raise ApiError("journey must be the journey's id (an integer)")
    journey = Journey.objects.filter(pk=reference, trigger_type=TriggerType.API).first()
    if journey is None:
        raise ApiError(f"no API-triggered journey {reference}", 404)
    if journey.status != JourneyStatus.ACTIVE:
        raise ApiError(f"journey {reference} is {journey.status}, not active", 409)
    return journey
