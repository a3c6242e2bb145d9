"""The five seed flows install as valid drafts, and the cart flow runs as described."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from channels.models import Message, MessageTemplate
from compliance.models import ConsentAction, ConsentSource
from compliance.services import consent_record
from journeys import engine
from journeys.models import Journey
from journeys.services import journey_activate, journey_validate
from profiles.models import Profile
from profiles.services import event_track
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_pacing(settings):
    settings.SMS_SEND_RATE_PER_SECOND = 0
    settings.TWILIO_ACCOUNT_SID = ""


def test_install_makes_five_valid_drafts_with_their_templates_once(capsys):
    call_command("install_journey_templates")
    call_command("install_journey_templates")
    journeys = Journey.objects.order_by("name")
    assert [j.name for j in journeys] == ["Abandoned cart", "Post-purchase reorder", "VIP",
                                          "Welcome", "Win-back"]  # fmt: skip
    assert all(j.status == "draft" for j in journeys)
    assert all(journey_validate(journey=j) == [] for j in journeys)
    assert MessageTemplate.objects.count() == 20
    assert "already there" in capsys.readouterr().out


def test_the_abandoned_cart_flow_runs_as_described(
    time_machine, django_capture_on_commit_callbacks
):
    call_command("install_journey_templates")
    journey_activate(journey=Journey.objects.get(template_key="abandoned-cart"))
    person = ProfileFactory(phone="+12125550188", time_zone="America/New_York")
    for channel in ("email", "sms"):
        consent_record(profile=person, channel=channel, action=ConsentAction.OPT_IN,
                       source=ConsentSource.SIGNUP_FORM)  # fmt: skip
    start = datetime(2025, 6, 10, 13, 0, tzinfo=UTC)  # 09:00 New York
    time_machine.move_to(start, tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        event_track(profile=person, name="Checkout Started", source="api",
                    properties={"product": "Blue mug"})  # fmt: skip
    sent_at = _first_sent(time_machine, start, timedelta(hours=1), 50)
    assert sent_at == {"cart-reminder": 1, "cart-nudge": 5, "cart-second": 24,
                       "cart-final-offer": 48}  # fmt: skip
    email = Message.objects.get(template__key="cart-reminder")
    assert "Blue mug" in email.body_html
    assert "Blue mug are waiting for you." in email.body_text  # the text part says it too


def test_the_demo_shows_the_cart_sms_at_its_time_scale(
    settings, time_machine, django_capture_on_commit_callbacks
):
    """make demo: journey time 60 times faster, frequency caps on real time. The seeded
    minimum gap must not hold the non-opener's SMS past its expiry (README's walk-through)."""
    settings.JOURNEY_TIME_SCALE = 60
    start = datetime(2025, 6, 10, 15, 0, tzinfo=UTC)  # 11:00 New York
    time_machine.move_to(start, tick=False)
    call_command("seed_demo", "--profiles", "0")
    call_command("install_journey_templates")
    journey_activate(journey=Journey.objects.get(template_key="abandoned-cart"))
    with django_capture_on_commit_callbacks(execute=True):
        event_track(profile=Profile.objects.get(external_id="demo-star"), source="api",
                    name="Checkout Started", properties={"product": "Blue mug"})  # fmt: skip
    sent_at = _first_sent(time_machine, start, timedelta(minutes=1), 30)
    assert sent_at == {"cart-reminder": 1, "cart-nudge": 5, "cart-second": 24}


def _first_sent(time_machine, start, step: timedelta, steps: int) -> dict[str, int]:
    """Tick once a `step` from `start`: each template's first sent message, in steps."""
    sent_at = {}
    for n in range(steps):
        time_machine.move_to(start + n * step)
        engine.tick()
        for message in Message.objects.filter(status="sent"):
            sent_at.setdefault(message.template.key, n)
    return sent_at
