"""compliance's double opt-in confirmations, sent through the outbox like every message.

Registered with compliance.notify from ChannelsConfig.ready(): the confirmation then
shows in the admin outbox, goes through dispatch (a STOPped number gets nothing: Twilio
would refuse it with 21610 anyway) and reaches the real provider when one is configured.
"""

import uuid

from channels.models import Message
from channels.services import dispatch, message_create
from profiles.models import Profile


def confirmation_email_send(*, profile: Profile, address: str, subject: str, body: str) -> Message:
    return _send(profile, "email", {"subject": subject, "body_text": body})


def confirmation_sms_send(*, profile: Profile, address: str, body: str) -> Message:
    return _send(profile, "sms", {"body_text": body})


def _send(profile: Profile, channel: str, content: dict) -> Message:
    message = message_create(
        profile=profile,
        idempotency_key=f"confirmation:{channel}:{uuid.uuid4()}",
        channel=channel,
        category="transactional",
        content=content,
        source_kind="confirmation",
    )
    return dispatch(message=message)
