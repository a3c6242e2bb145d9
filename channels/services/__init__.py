"""Channel operations every other app, task, webhook and admin action calls.

`dispatch` is the only way a message reaches a provider.
"""

from channels.services.dispatch import dispatch, dispatch_many
from channels.services.outbox import message_create, recent_sends
from channels.services.sweeper import messages_mark_unknown, messages_release_due
from channels.services.tracking import (
    engagement_record,
    link_follow,
    message_status_advance,
)

__all__ = [
    "dispatch",
    "dispatch_many",
    "engagement_record",
    "link_follow",
    "message_create",
    "message_status_advance",
    "messages_mark_unknown",
    "messages_release_due",
    "recent_sends",
]
