from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.urls import reverse

from channels.models import Link, Message, MessageStatus, MessageTemplate
from profiles.hooks import timeline_for
from tests.channels.factories import EmailTemplateFactory, MessageFactory, SmsTemplateFactory

pytestmark = pytest.mark.django_db


def test_template_change_page_has_the_live_segment_counter(admin_client, sms_template):
    url = reverse("admin:channels_messagetemplate_change", args=[sms_template.pk])
    page = admin_client.get(url).content.decode()

    assert 'id="segment-counter"' in page
    assert 'data-price="0.0083"' in page
    assert "channels/segments.js" in page
    assert "Preview and test send" in page


def test_preview_renders_against_a_profile_and_keeps_nothing(admin_client, person):
    template = EmailTemplateFactory()
    url = reverse("admin:channels_messagetemplate_preview", args=[template.pk])

    page = admin_client.get(url, {"profile": person.pk}).content.decode()

    assert '<p id="preview-subject">Hello Ada</p>' in page
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in page
    assert Message.objects.count() == 0
    assert Link.objects.count() == 0


def test_sms_preview_shows_the_segments(admin_client, person, sms_template):
    url = reverse("admin:channels_messagetemplate_preview", args=[sms_template.pk])
    page = admin_client.get(url, {"profile": person.pk}).content.decode()

    assert "SMS (1 segment)" in page
    assert "Reply STOP to opt out" in page


def test_a_test_send_takes_the_profile_by_email_address(
    admin_client, daytime, person, console_adapters
):
    template = SmsTemplateFactory()
    url = reverse("admin:channels_messagetemplate_test_send", args=[template.pk])

    response = admin_client.post(url, {"profile": "Ada@Example.com"}, follow=True)

    assert Message.objects.get().profile == person
    assert "Test send: Sent." in response.content.decode()


def test_a_test_send_goes_through_dispatch_into_the_outbox(
    admin_client, daytime, person, console_adapters
):
    template = SmsTemplateFactory()
    url = reverse("admin:channels_messagetemplate_test_send", args=[template.pk])

    response = admin_client.post(url, {"profile": person.pk}, follow=True)

    message = Message.objects.get()
    assert (message.status, message.source_kind, message.provider) == ("sent", "test", "console")
    page = response.content.decode()
    assert "Test send: Sent." in page
    assert "TandemShop: hi Ada" in page


def test_a_test_send_is_not_held_by_frequency_caps(
    admin_client, daytime, person, console_adapters, mailoutbox
):
    """The seeded 60-minute gap would defer a second message; a test is sent at once."""
    email, sms = EmailTemplateFactory(), SmsTemplateFactory()
    for template in (email, sms):
        url = reverse("admin:channels_messagetemplate_test_send", args=[template.pk])
        admin_client.post(url, {"profile": person.pk})

    assert list(Message.objects.order_by("pk").values_list("channel", "status")) == [
        ("email", "sent"),
        ("sms", "sent"),
    ]


def test_a_test_send_still_honours_consent_and_quiet_hours(admin_client, person, twilio):
    from compliance.services import consent_record

    consent_record(profile=person, channel="email", action="opt_out", source="admin")
    night = datetime(2026, 3, 10, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    with time_machine.travel(night, tick=False):
        for template in (EmailTemplateFactory(), SmsTemplateFactory()):
            url = reverse("admin:channels_messagetemplate_test_send", args=[template.pk])
            admin_client.post(url, {"profile": person.pk})

    email, sms = Message.objects.order_by("pk")
    assert (email.status, sms.status) == ("suppressed", "deferred")
    assert sms.reason.startswith("quiet_hours")


def test_saving_a_long_unicode_sms_template_warns(admin_client):
    response = admin_client.post(
        reverse("admin:channels_messagetemplate_add"),
        {
            "name": "Long",
            "key": "long",
            "channel": "sms",
            "category": "transactional",
            "sms_body": "’" + "x" * 200,
        },
        follow=True,
    )
    page = response.content.decode()
    assert MessageTemplate.objects.filter(key="long").exists()
    assert "UCS-2 encoding (because of &#x27;’&#x27;)" in page
    assert "3 segments: about 0.0249 per message." in page


def test_a_marketing_email_template_without_footer_cannot_be_saved(admin_client):
    response = admin_client.post(
        reverse("admin:channels_messagetemplate_add"),
        {
            "name": "No footer",
            "key": "no-footer",
            "channel": "email",
            "category": "marketing",
            "subject": "Hi",
            "body_html": "<p>Buy</p>",
        },
    )
    assert response.status_code == 200
    assert "Marketing email must show the postal address" in response.content.decode()
    assert not MessageTemplate.objects.filter(key="no-footer").exists()


def test_the_outbox_lists_unknown_messages_for_attention(admin_client, person):
    MessageFactory(profile=person, status=MessageStatus.UNKNOWN, to_address="lost@example.com")
    MessageFactory(profile=person, status=MessageStatus.SENT, to_address="fine@example.com")

    page = admin_client.get(
        reverse("admin:channels_message_changelist"), {"attention": "unknown"}
    ).content.decode()

    assert "lost@example.com" in page
    assert "fine@example.com" not in page


def test_the_outbox_is_read_only(admin_client, person):
    message = MessageFactory(profile=person)
    assert admin_client.get(reverse("admin:channels_message_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:channels_message_change", args=[message.pk]), {"status": "sent"}
    )
    assert response.status_code == 403


def test_messages_join_the_profile_timeline(person):
    MessageFactory(profile=person, status=MessageStatus.SUPPRESSED, reason="consent_never")

    [entry] = [e for e in timeline_for(person) if e.kind == "message"]
    assert entry.title.startswith("Email: Spring sale")
    assert entry.detail == "Suppressed · consent_never"


def test_roles_grant_the_channel_models():
    marketer = set(
        Group.objects.get(name="Marketer").permissions.values_list("codename", flat=True)
    )
    assert {"add_messagetemplate", "view_message", "view_deliveryalert"} <= marketer
    assert "change_message" not in marketer
    compliance = Group.objects.get(name="Compliance").permissions
    assert compliance.filter(codename="change_deliveryalert").exists()


def test_the_outbox_search_finds_a_message_by_provider_id_and_idempotency_key(admin_client):
    """Migration 0003 dropped the varchar_pattern_ops indexes: the admin's search (icontains)
    never used them, and still finds messages by either value, whole or in part."""
    message = MessageFactory(
        provider_message_id="SM0123456789abcdef", idempotency_key="journey:7:42"
    )
    MessageFactory(provider_message_id="SMffff", idempotency_key="other:1")
    url = reverse("admin:channels_message_changelist")

    for query in ["SM0123456789abcdef", "456789ABC", "journey:7:42", "7:4"]:
        page = admin_client.get(url, {"q": query})
        assert [m.pk for m in page.context["cl"].result_list] == [message.pk], query


def test_a_message_not_yet_sent_is_named_by_its_profile_not_a_bare_number(person):
    message = MessageFactory(profile=person, to_address="")

    assert str(message) == f"{message.get_channel_display()} #{message.pk} to profile {person.pk}"
