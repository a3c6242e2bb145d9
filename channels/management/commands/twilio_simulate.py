"""Play Twilio's part against a running Tandem: signed status callbacks and inbound texts.

    python manage.py twilio_simulate status MESSAGE_ID delivered [--error-code 30007]
    python manage.py twilio_simulate inbound +12125550199 STOP

The request goes over HTTP to PUBLIC_BASE_URL, form-encoded and signed with
TWILIO_AUTH_TOKEN exactly as Twilio signs it (RequestValidator), so it takes the same path
as a real callback: a wrong token gets the same 403 a forger would. Meant for the demo and
for staging, where the console SMS adapter sends nothing to Twilio and Twilio calls nobody.
"""

import uuid
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from channels.models import Message

STATUS_PATH = "/webhooks/twilio/status/"
INBOUND_PATH = "/webhooks/twilio/inbound/"


class Command(BaseCommand):
    help = "Send a signed Twilio status callback or inbound SMS to this Tandem (PUBLIC_BASE_URL)."

    def add_arguments(self, parser):
        kinds = parser.add_subparsers(dest="kind", required=True)
        status = kinds.add_parser("status", help="a status callback for an SMS in the outbox")
        status.add_argument("message_id", type=int, help="the outbox message's id (admin)")
        status.add_argument("status", help="Twilio's MessageStatus: sent, delivered, failed ...")
        status.add_argument("--error-code", default="", help="e.g. 30007, 21610")
        inbound = kinds.add_parser("inbound", help="a text from a phone to our number")
        inbound.add_argument("from_number", help="E.164, e.g. +12125550199")
        inbound.add_argument("body", help="the text, e.g. STOP")
        inbound.add_argument("--to", default="", help="our number (default TWILIO_FROM_NUMBER)")

    def handle(self, *args, kind, **options):
        if not settings.TWILIO_AUTH_TOKEN:
            raise CommandError(
                "TWILIO_AUTH_TOKEN is not set: the webhooks reject every request without it."
            )
        if kind == "status":
            path, fields = STATUS_PATH, self._status_fields(**options)
        else:
            path, fields = INBOUND_PATH, self._inbound_fields(**options)
        code, body = post_signed(
            settings.PUBLIC_BASE_URL + path, fields, settings.TWILIO_AUTH_TOKEN
        )
        self.stdout.write(f"POST {path} -> {code} {body[:200]}".rstrip())
        if code >= 400:
            raise CommandError(f"Tandem answered {code}")

    def _status_fields(self, *, message_id, status, error_code, **_):
        message = Message.objects.filter(pk=message_id, channel="sms").first()
        if message is None:
            raise CommandError(f"No SMS with id {message_id} in the outbox.")
        if not message.provider_message_id:
            raise CommandError(
                f"SMS {message_id} has no provider message id yet (status {message.status}): "
                "only a message handed to the adapter gets callbacks."
            )
        fields = {
            "AccountSid": settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32,
            "MessageSid": message.provider_message_id,
            "SmsSid": message.provider_message_id,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": message.to_address,
            "From": settings.TWILIO_FROM_NUMBER,
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            fields["ErrorCode"] = error_code
        return fields

    def _inbound_fields(self, *, from_number, body, to, **_):
        sid = "SM" + uuid.uuid4().hex
        return {
            "AccountSid": settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32,
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "From": from_number,
            "To": to or settings.TWILIO_FROM_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }


def post_signed(url: str, fields: dict[str, str], token: str) -> tuple[int, str]:
    """POST the form as Twilio does, with X-Twilio-Signature over the URL and the fields."""
    signature = RequestValidator(token).compute_signature(url, fields)
    request = Request(
        url,
        data=urlencode(fields).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "User-Agent": "TwilioProxy/1.1 (tandem twilio_simulate)",
        },
        method="POST",
    )
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except URLError as error:
        raise CommandError(f"Could not reach {url}: {error.reason}") from error
