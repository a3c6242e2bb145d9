"""How compliance sends its confirmation messages without importing `channels`.

compliance sits below channels in the layering, so it cannot call channels' dispatch.
Instead it asks this registry. Two kinds exist:

- ``"email_confirmation"``: the double opt-in email; called as
  ``fn(*, profile, address, subject, body)``.
- ``"sms_confirmation"``: the "Reply YES to confirm" text; called as
  ``fn(*, profile, address, body)``.

channels replaces the defaults from its ``AppConfig.ready()``::

    from compliance import notify
    notify.register_sender("sms_confirmation", channels.services.confirmation_sms_send)

The default email sender uses django.core.mail (the console backend in the demo, locmem
in tests, anymail in production). The default SMS sender only logs: until channels
registers a real one, no text leaves the machine. A sender must not raise for a
delivery failure it can retry later; what it raises reaches the page that asked.
"""

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from profiles.models import Profile

logger = logging.getLogger(__name__)

KINDS = ("email_confirmation", "sms_confirmation")
Sender = Callable[..., Any]


def _email_by_django_mail(*, profile: Profile, address: str, subject: str, body: str) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])


def _sms_to_log(*, profile: Profile, address: str, body: str) -> None:
    logger.info("SMS confirmation to %s (no SMS sender registered): %s", address, body)


_defaults: dict[str, Sender] = {
    "email_confirmation": _email_by_django_mail,
    "sms_confirmation": _sms_to_log,
}
_senders: dict[str, Sender] = dict(_defaults)


def register_sender(kind: str, fn: Sender) -> Sender:
    """Make `fn` the sender for `kind` (the last registration wins); returns `fn`."""
    if kind not in KINDS:
        raise ValueError(f"unknown confirmation kind {kind!r}; one of {', '.join(KINDS)}")
    _senders[kind] = fn
    return fn


def reset_senders() -> None:
    """Back to the defaults (for tests)."""
    _senders.clear()
    _senders.update(_defaults)


def send(kind: str, *, profile: Profile, address: str, **content: str) -> None:
    """Hand one confirmation to the sender registered for `kind`."""
    if kind not in _senders:
        raise ValueError(f"unknown confirmation kind {kind!r}")
    _senders[kind](profile=profile, address=address, **content)
