"""Twilio inbound SMS webhook: verify, act once per MessageSid, answer with TwiML."""

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from compliance.models import InboundSms
from compliance.sms_inbound import InboundText, inbound_sms_receive, inbound_sms_reply

logger = logging.getLogger(__name__)

FIELD_LIMITS = {"MessageSid": 64, "From": 32, "To": 32}


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not is_signed_by_twilio(request):
        logger.warning(
            "twilio inbound: bad or missing signature from %s", request.META.get("REMOTE_ADDR")
        )
        return HttpResponseForbidden("invalid Twilio signature")
    text = _inbound_text(request)
    if text is None:
        return HttpResponseBadRequest("MessageSid and From are required")
    inbound = inbound_sms_receive(text=text)
    return _twiml(inbound)


def is_signed_by_twilio(request: HttpRequest) -> bool:
    """The signature over PUBLIC_BASE_URL + path + query, with the current or the next token.

    Signed over the public URL, not the request's host: behind a TLS proxy the scheme and
    host Django sees are not the ones Twilio called.
    """
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    tokens = [t for t in (settings.TWILIO_AUTH_TOKEN, settings.TWILIO_AUTH_TOKEN_SECONDARY) if t]
    # The exact URL first (one HMAC; what Twilio signs when the configured URL has no port),
    # then the validator's full check, which also tries the URL with the default port.
    validators, given = [RequestValidator(token) for token in tokens], signature.encode()
    if any(
        hmac.compare_digest(v.compute_signature(url, request.POST).encode(), given)
        for v in validators
    ):
        return True
    return any(v.validate(url, request.POST, signature) for v in validators)


def _inbound_text(request: HttpRequest) -> InboundText | None:
    values = {name: request.POST.get(name, "").strip() for name in FIELD_LIMITS}
    if not values["MessageSid"] or not values["From"]:
        return None
    if any(len(values[name]) > limit for name, limit in FIELD_LIMITS.items()):
        return None
    return InboundText(
        message_sid=values["MessageSid"],
        from_number=values["From"],
        to_number=values["To"],
        body=request.POST.get("Body", ""),
    )


def _twiml(inbound: InboundSms) -> HttpResponse:
    response = MessagingResponse()
    if reply := inbound_sms_reply(inbound=inbound):
        response.message(reply)
    return HttpResponse(str(response), content_type="text/xml")
