"""Twilio inbound SMS webhook (placeholder until the inbound work lands)."""

from django.http import HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def twilio_inbound(request):
    return HttpResponseForbidden()
