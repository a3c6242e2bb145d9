"""A test send skips the fatigue caps but never the state law limit (FL/OK/MD: 3 per 24 h)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels.models import MessageStatus
from channels.services import dispatch
from channels.services.outbox import message_create
from compliance.models import ConsentAction, ConsentSource
from compliance.services import consent_record
from tests.channels.factories import MessageFactory, SmsTemplateFactory
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def floridian(db):
    profile = ProfileFactory(
        phone="+13055550123",
        email="fl@example.com",
        traits={"state": "FL"},
        time_zone="America/New_York",
    )
    consent_record(
        profile=profile, channel="sms", action=ConsentAction.OPT_IN, source=ConsentSource.ADMIN
    )
    template = SmsTemplateFactory()
    now = timezone.now()
    for hours in (20, 12, 5):  # three marketing texts in the last 24 h, gaps > 60 min
        MessageFactory(
            profile=profile,
            template=template,
            status=MessageStatus.SENT,
            to_address="+13055550123",
            sending_started_at=now - timedelta(hours=hours),
            sent_at=now - timedelta(hours=hours),
        )
    return profile


@pytest.mark.parametrize("source_kind", ["", "test"])
def test_a_fourth_marketing_text_in_24h_to_florida_is_held(
    daytime, floridian, console_adapters, source_kind
):
    template = SmsTemplateFactory()
    assert template.category == "marketing"
    message = message_create(
        profile=floridian,
        template=template,
        idempotency_key=f"k{source_kind}",
        source_kind=source_kind,
    )
    message = dispatch(message=message)
    # Florida law: at most 3 marketing texts per rolling 24 h, any sender, any campaign.
    assert (message.status, message.reason) == ("deferred", "cap_state-sms-24h")
