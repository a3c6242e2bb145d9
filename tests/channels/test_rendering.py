import pytest
from django.core.exceptions import ValidationError

from channels.models import Link
from channels.rendering import STOP_FOOTER, RenderError, render
from compliance.tokens import PREFERENCES, UNSUBSCRIBE, read_token
from tests.channels.factories import EmailTemplateFactory, MessageFactory, SmsTemplateFactory
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db


def email_message(person, **template_fields):
    template = EmailTemplateFactory(**template_fields)
    event = EventFactory(profile=person, properties={"product": "Tea & Cakes"})
    return MessageFactory(
        profile=person, template=template, trigger_event=event, to_address="ada@example.com"
    )


def test_marketing_email_carries_exactly_the_rfc8058_headers(person):
    rendered = render(email_message(person), person)

    unsubscribe = rendered.headers["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://tandem.example.com/unsubscribe/")
    assert unsubscribe.endswith("/>")
    assert rendered.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert rendered.headers["List-Id"] == '"Offers and sales" <offers.tandem.example.com>'
    assert list(rendered.headers) == ["List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"]


def test_the_unsubscribe_header_token_names_the_person_and_topic(person):
    rendered = render(email_message(person), person)
    token = rendered.headers["List-Unsubscribe"].split("/unsubscribe/")[1].rstrip("/>")

    target = read_token(UNSUBSCRIBE, token)
    assert (target.profile, target.channel, target.topic) == (person, "email", "offers")


def test_both_parts_show_the_postal_address_and_the_same_unsubscribe_link(settings, person):
    rendered = render(email_message(person), person)
    url = rendered.headers["List-Unsubscribe"][1:-1]

    for part in (rendered.body_html, rendered.body_text):
        assert settings.COMPANY_POSTAL_ADDRESS in part
        assert url in part
        assert "https://tandem.example.com/preferences/" in part


def test_transactional_email_has_no_list_headers(person):
    message = email_message(person, category="transactional", topic=None)
    assert render(message, person).headers == {}


def test_email_personalises_from_profile_and_event_and_escapes_html(person):
    rendered = render(email_message(person), person)

    assert rendered.subject == "Hello Ada"
    assert "Sale on Tea &amp; Cakes." in rendered.body_html
    assert "sale on Tea & Cakes." in rendered.body_text


def test_css_is_inlined_into_style_attributes(person):
    rendered = render(email_message(person), person)

    assert "<style>" not in rendered.body_html
    assert 'class="wrapper" style="max-width: 600px;' in rendered.body_html
    assert "20% off this week" in rendered.body_html


def test_a_footer_hidden_by_a_condition_fails_the_render(person):
    message = email_message(
        person,
        body_html="<p>Hi</p>{% if false %}{{ footer }}{% endif %}",
        body_text="Hi {{ footer }}",
    )
    with pytest.raises(RenderError) as error:
        render(message, person)
    assert error.value.code == "template_missing_footer"


def test_templates_cannot_reach_files_or_tag_libraries(person):
    template = EmailTemplateFactory.build(body_html="{% load static %}{{ footer }}")
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    assert "body_html" in error.value.message_dict


def test_marketing_email_template_without_footer_is_refused():
    template = EmailTemplateFactory.build(body_html="<p>Buy now</p>", body_text="Buy now")
    with pytest.raises(ValidationError) as error:
        template.full_clean(exclude=["topic"])
    assert set(error.value.message_dict) == {"body_html", "body_text"}


def test_explicit_unsubscribe_and_address_placeholders_are_accepted():
    template = EmailTemplateFactory.build(
        body_html="<a href='{{ unsubscribe_url }}'>Stop</a> {{ postal_address }}",
        body_text="Stop: {{ unsubscribe_url }} {{ postal_address }}",
    )
    template.full_clean(exclude=["topic"])


def test_marketing_sms_template_must_name_the_brand(settings):
    template = SmsTemplateFactory.build(sms_body="20% off today")
    with pytest.raises(ValidationError) as error:
        template.full_clean(exclude=["topic"])
    assert "sms_body" in error.value.message_dict
    SmsTemplateFactory.build(sms_body=f"{settings.SMS_BRAND_NAME}: 20% off").full_clean(
        exclude=["topic"]
    )


def test_sms_links_become_tracked_short_links_and_stop_text_is_appended(person):
    message = MessageFactory(
        profile=person, template=SmsTemplateFactory(), to_address="+14155550123"
    )
    rendered = render(message, person)

    link = Link.objects.get(message=message)
    assert link.url == "https://shop.example.com/sale"
    assert rendered.body_text == (
        f"TandemShop: hi Ada, 20% off today https://tandem.example.com/l/{link.code}\n{STOP_FOOTER}"
    )
    assert rendered.segments == 1


def test_stop_text_only_on_the_first_marketing_sms_to_a_number(person):
    template = SmsTemplateFactory(sms_body="{{ brand }} news")
    MessageFactory(profile=person, template=template, to_address="+14155550123", status="sent")
    second = MessageFactory(profile=person, template=template, to_address="+14155550123")

    assert render(second, person).body_text == "TandemShop news"


def test_stop_text_on_every_marketing_sms_when_configured(settings, person):
    settings.SMS_STOP_FOOTER_EVERY_MESSAGE = True
    template = SmsTemplateFactory(sms_body="{{ brand }} news")
    MessageFactory(profile=person, template=template, to_address="+14155550123", status="sent")
    second = MessageFactory(profile=person, template=template, to_address="+14155550123")

    assert render(second, person).body_text == f"TandemShop news\n{STOP_FOOTER}"


def test_a_template_that_already_says_stop_gets_no_second_stop_line(person):
    template = SmsTemplateFactory(sms_body="{{ brand }} news. Reply STOP to end.")
    message = MessageFactory(profile=person, template=template, to_address="+14155550123")
    assert render(message, person).body_text == "TandemShop news. Reply STOP to end."


def test_sms_template_segments_are_stored_on_save():
    template = SmsTemplateFactory(sms_body="{{ brand }} ’" + "x" * 80)
    assert (template.sms_encoding, template.sms_segments) == ("UCS-2", 2)


def test_links_built_with_the_cached_pattern_are_the_ones_reverse_gives(person):
    from django.urls import reverse

    from compliance import tokens
    from profiles.reverse import path_with

    token = tokens.make_token(tokens.UNSUBSCRIBE, person, c="sms", t="offers")
    for name in ("compliance:preferences", "compliance:unsubscribe", "channels:link"):
        assert path_with(name, token) == reverse(name, args=[token])


def test_a_short_link_in_a_text_is_the_links_own_short_url(person):
    message = MessageFactory(profile=person, template=SmsTemplateFactory())

    rendered = render(message, person)

    assert Link.objects.get().short_url in rendered.body_text


def test_an_sms_that_names_the_preference_centre_gets_a_working_link(person):
    template = SmsTemplateFactory(sms_body="{{ brand }}: settings at {{ preferences_url }}")
    message = MessageFactory(profile=person, template=template, to_address="+14155550123")
    rendered = render(message, person)

    link = Link.objects.get(message=message)
    assert link.url.startswith("https://tandem.example.com/preferences/")
    token = link.url.split("/preferences/")[1].rstrip("/")
    assert read_token(PREFERENCES, token).profile == person
    assert f"https://tandem.example.com/l/{link.code}" in rendered.body_text
