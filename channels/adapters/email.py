"""Email through Django's email API, so any anymail ESP (or SMTP) works by configuration."""

import smtplib
from email.utils import make_msgid
from urllib.parse import urlsplit

import requests
from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from channels.adapters.base import Adapter, DeliveryError, SendResult

CONSOLE_BACKENDS = frozenset(
    {
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
    }
)
# anymail's per-recipient statuses that mean the ESP will not deliver to the address.
REFUSED = {"rejected": "invalid_address", "invalid": "invalid_address"}


def _is_transient_status(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


class EmailAdapter(Adapter):
    kind = "email"

    @property
    def provider(self) -> str:  # type: ignore[override]
        path = settings.EMAIL_BACKEND
        if path.startswith("anymail.backends."):
            return path.split(".")[2]
        return path.rsplit(".", 2)[-2]

    def is_configured(self) -> bool:
        return settings.EMAIL_BACKEND not in CONSOLE_BACKENDS

    def rate_per_second(self) -> float:
        return settings.EMAIL_SEND_RATE_PER_SECOND

    def build(self, message) -> EmailMultiAlternatives:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to_address],
            headers=dict(message.headers or {}),
        )
        if message.body_html:
            email.attach_alternative(message.body_html, "text/html")
        # anymail: the ESP echoes metadata back in its tracking webhooks.
        email.metadata = {"tandem_message_id": str(message.pk)}
        email.tags = [message.category]
        if not settings.EMAIL_BACKEND.startswith("anymail."):
            host = urlsplit(settings.PUBLIC_BASE_URL).hostname or "localhost"
            email.extra_headers["Message-ID"] = make_msgid(domain=host)
        return email

    def send(self, message) -> SendResult:
        email = self.build(message)
        try:
            email.send()
        except AnymailRecipientsRefused as error:
            raise self._refused(email, message.to_address, str(error)) from error
        except AnymailAPIError as error:
            raise self._api_error(error) from error
        except AnymailError as error:  # serialisation, unsupported feature: our bug
            raise DeliveryError("anymail_error", str(error), permanent=True) from error
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(
                "smtp_refused", str(error), permanent=True, address_problem="invalid_address"
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError("smtp_error", str(error), permanent=False) from error
        return self._result(email, message.to_address)

    def _result(self, email, address: str) -> SendResult:
        status = getattr(email, "anymail_status", None)
        if status is None or not status.recipients:
            return SendResult(self.provider, email.extra_headers.get("Message-ID", ""), "sent")
        recipient = status.recipients.get(address) or next(iter(status.recipients.values()))
        if recipient.status in REFUSED:
            raise self._refused(email, address, f"ESP status {recipient.status}")
        return SendResult(self.provider, recipient.message_id or "", recipient.status or "")

    def _refused(self, email, address: str, text: str) -> DeliveryError:
        status = getattr(email, "anymail_status", None)
        recipient = status.recipients.get(address) if status and status.recipients else None
        code = recipient.status if recipient else "rejected"
        return DeliveryError(
            code, text, permanent=True, address_problem=REFUSED.get(code, "invalid_address")
        )

    def _api_error(self, error: AnymailAPIError) -> DeliveryError:
        cause = error.__cause__
        if isinstance(cause, requests.ReadTimeout):
            # The ESP may have accepted it before the answer was lost: never resend blindly.
            return DeliveryError("timeout", str(error), permanent=False, ambiguous=True)
        status = error.status_code
        code = f"http_{status}" if status else "connection_error"
        return DeliveryError(code, str(error)[:2000], permanent=not _is_transient_status(status))
