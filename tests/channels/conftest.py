from datetime import datetime
from importlib import import_module
from zoneinfo import ZoneInfo

import pytest
import time_machine

from compliance.models import ConsentAction, ConsentSource, Topic
from compliance.preferences import marketing_topics_forget
from compliance.services import consent_record
from tests.channels.factories import EmailTemplateFactory, SmsTemplateFactory
from tests.factories import ProfileFactory

# Tuesday 2026-03-10 11:00 in New York: inside every quiet-hours window.
DAYTIME = datetime(2026, 3, 10, 15, 0, tzinfo=ZoneInfo("UTC"))


@pytest.fixture
def daytime():
    with time_machine.travel(DAYTIME, tick=True) as traveller:
        yield traveller


@pytest.fixture
def person(db):
    """A profile subscribed to email and SMS marketing."""
    profile = ProfileFactory(phone="+14155550123", email="ada@example.com")
    for channel in ("email", "sms"):
        consent_record(
            profile=profile,
            channel=channel,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.ADMIN,
        )
    return profile


@pytest.fixture
def email_template(db):
    return EmailTemplateFactory()


@pytest.fixture
def sms_template(db):
    return SmsTemplateFactory()


@pytest.fixture
def console_adapters(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.TWILIO_ACCOUNT_SID = ""


@pytest.fixture
def twilio(settings):
    settings.TWILIO_ACCOUNT_SID = "AC" + "1" * 32
    settings.TWILIO_AUTH_TOKEN = "primary-token"
    settings.TWILIO_AUTH_TOKEN_SECONDARY = "secondary-token"
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "2" * 32
    settings.TWILIO_FROM_NUMBER = ""
    settings.SMS_SEND_RATE_PER_SECOND = 0
    return settings


@pytest.fixture
def seeded_topics(db):
    """The topics the migration seeds, for transactional tests: pytest-django runs those
    last, each ending with every table flushed, so migration data is gone by then."""
    seeded = import_module("compliance.migrations.0002_roles_and_topics").TOPICS
    for key, name, description, category, order in seeded:
        Topic.objects.get_or_create(
            key=key,
            defaults={"name": name, "description": description, "category": category,
                      "sort_order": order},
        )  # fmt: skip
    marketing_topics_forget()
