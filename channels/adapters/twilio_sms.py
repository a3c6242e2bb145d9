"""SMS through Twilio's official SDK: Messaging Service (or one number), status callbacks,
an explicit HTTP timeout, and Twilio's error codes sorted into retry or terminal."""

import requests
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from channels.adapters.base import Adapter, DeliveryError, SendResult

# What a Twilio error code proves about the number (sync errors and status callbacks).
ADDRESS_PROBLEMS = {
    "21610": "carrier_opt_out",  # the recipient replied STOP to this sender
    "21211": "invalid_address",  # not a valid phone number
    "21614": "invalid_address",  # not a mobile number
    "30005": "invalid_address",  # unknown destination handset
    "30006": "invalid_address",  # landline or unreachable carrier
}


def status_callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('channels_webhooks:twilio_status')}"


def error_from_rest(error: TwilioRestException) -> DeliveryError:
    # Without a JSON body the SDK repeats the HTTP status as the code.
    has_code = error.code and error.code != error.status
    code = str(error.code) if has_code else f"http_{error.status}"
    transient = error.status == 429 or error.status >= 500
    return DeliveryError(
        code,
        error.msg or "",
        permanent=not transient,
        address_problem=ADDRESS_PROBLEMS.get(code, ""),
    )


class TwilioSmsAdapter(Adapter):
    kind = "sms"
    provider = "twilio"

    def __init__(self) -> None:
        self._client: Client | None = None

    def is_configured(self) -> bool:
        sender = settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER
        return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and sender)

    def sender_key(self) -> str:
        return settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER

    def rate_per_second(self) -> float:
        return settings.SMS_SEND_RATE_PER_SECOND

    def client(self) -> Client:
        if self._client is None:
            http = TwilioHttpClient(timeout=settings.PROVIDER_TIMEOUT_SECONDS)
            self._client = Client(
                settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http
            )
        return self._client

    def send(self, message) -> SendResult:
        sender = (
            {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
            if settings.TWILIO_MESSAGING_SERVICE_SID
            else {"from_": settings.TWILIO_FROM_NUMBER}
        )
        try:
            created = self.client().messages.create(
                to=message.to_address,
                body=message.body_text,
                status_callback=status_callback_url(),
                **sender,
            )
        except TwilioRestException as error:
            raise error_from_rest(error) from error
        except requests.ReadTimeout as error:
            # Twilio may have queued it before the answer was lost: never resend blindly.
            raise DeliveryError("timeout", str(error), permanent=False, ambiguous=True) from error
        except requests.RequestException as error:  # connect timeout, refused, DNS
            raise DeliveryError("connection_error", str(error), permanent=False) from error
        return SendResult(self.provider, created.sid, created.status or "")
