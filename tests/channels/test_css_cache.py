"""An email's inlined HTML is exactly css_inline's over Django's own rendering, whether the
page came from the per-skeleton cache (channels.css) or was inlined the ordinary way."""

import css_inline
import pytest
import time_machine
from django.template import Context
from django.template.loader import get_template
from django.utils.safestring import mark_safe

from channels import css
from channels.engine import engine
from channels.rendering import FOOTER_HTML, LAYOUT, RenderBatch, base_context, render
from tests.channels.factories import EmailTemplateFactory, MessageFactory

pytestmark = pytest.mark.django_db

BODIES = [
    "<h1>Hi {{ first_name }}</h1><p>Sale on {{ event.product }}.</p>{{ footer }}",
    "<table><tr><td>{{ first_name }}</td></tr>{{ first_name }}</table>{{ footer }}",
    '<p title="{{ first_name }}"><a href="https://x.example/{{ event.code }}">{{ event.code }}</a>'
    "</p>{{ footer }}",
    '<p class="{{ event.code }}">x</p><style>.A1 { color: red }</style>{{ footer }}',
    '<style>a[href$="1"] { color: red }</style><a href="{{ event.code }}">{{ first_name }}</a>'
    "{{ footer }}",
    "<!-- {{ first_name }} --><pre>{{ first_name }}</pre><textarea>{{ first_name }}</textarea>"
    "{{ footer }}",
    '<p style="color: {{ event.color }}">{{ first_name }}</p>{{ footer }}',
    "{% if first_name %}<h1>{{ first_name }}</h1>{% else %}<h1>Hi</h1>{% endif %}{{ footer }}",
    "<p>AT&T {{ first_name }} &amp{{ first_name }} &{{ first_name }} &#{{ first_name }}</p>"
    "{{ footer }}",
    "<p>{{ first_name }}<p>{{ last_name }}{{ footer }}",
    "<img src={{ event.code }} alt={{ first_name }}>{{ footer }}",
    "<style>p:empty { display: none } p + p { color: blue }</style><p>{{ first_name }}</p><p>"
    "</p>{{ footer }}",
    "{{ first_name }}<div>{{ footer }}</div>",
    "<script>var a = '{{ first_name }}';</script>{{ footer }}",
    "<select><option>{{ first_name }}</option>{{ last_name }}</select>{{ footer }}",
    "{% autoescape off %}<b>{{ event.html }}</b>{% endautoescape %}{{ footer }}",
    "<p>{{ event.count }} {{ event.items }} {{ event.product }}</p>{{ footer }}",
    "<p>{{ first_name|upper }}</p>{{ footer }}",  # beyond channels.flat: Django renders it
]
NAMES = [
    "Ada",
    "",
    " Ada",
    "Ada ",
    "Zoë Łukasz 李",
    'Tom & "Jerry" <b>\'s</b>',
    "a\u00a0b",
    "\u00a0",
    "x\r\ny",
    "a\x00b",
    "&amp",
    "amp;",
    "\ue000x\ue001",
    "\ue001",
    "  ",
    "\n",
    "\t x",
    "AT&T",
    "gt;",
]
EVENTS = [
    {"product": "Tea & Cakes", "code": "A1", "color": "red", "html": "<i>x</i>"},
    {"product": "", "code": "a b", "color": "blue; font-weight: bold", "html": "&"},
    {"product": "x", "code": '"q"', "color": "", "html": "\ue000", "count": 3},
    {"product": "<p>", "code": "x&y", "items": ["a", "<b>"], "html": ""},
]


def reference_html(message, person, subject, preheader) -> str:
    """Django's own rendering of the same values, inlined by css_inline directly."""
    batch = RenderBatch()
    context = base_context(message, person, batch=batch)
    topic = message.topic.key if message.topic_id else ""
    context["unsubscribe_url"] = batch.hosted.unsubscribe_url(person, channel="email", topic=topic)
    footer = get_template(FOOTER_HTML).render(context)
    body = (
        engine(autoescape=True)
        .from_string(message.template.body_html)
        .render(Context({**context, "footer": mark_safe(footer)}, autoescape=True))
    )
    page = get_template(LAYOUT).render(
        {"body": mark_safe(body), "subject": subject, "preheader": preheader}
    )
    return css_inline.inline(page)


@pytest.mark.parametrize("body", BODIES)
def test_the_cached_inlining_is_css_inline_s_exact_page(body, person):
    template = EmailTemplateFactory(body_html=body)
    message = MessageFactory(profile=person, template=template, to_address="ada@example.com")
    batch = RenderBatch()
    with time_machine.travel("2026-03-10T17:00:00Z", tick=False):
        for first_name in NAMES:
            for event in EVENTS:
                person.first_name, person.last_name = first_name, first_name[::-1]
                message.context = event
                rendered = render(message, person, batch=batch)
                expected = reference_html(message, person, rendered.subject, "20% off this week")
                assert rendered.body_html == expected, (first_name, event)


def test_emails_of_one_template_share_one_inlined_skeleton(person):
    template = EmailTemplateFactory()
    message = MessageFactory(
        profile=person, template=template, to_address="ada@example.com", context={"product": "Tea"}
    )
    css._cache.clear()
    for first_name in ("Ada", "Grace", "Edsger"):
        person.first_name = first_name
        render(message, person)
    assert list(css._cache.values()).count(None) == 0
    assert len(css._cache) == 1


def test_a_marked_page_with_stray_marks_is_inlined_the_ordinary_way():
    page = "<p>\ue000a\ue001 \ue001</p>"
    assert css.inline_marked(page) == css_inline.inline(css.unmark(page))
