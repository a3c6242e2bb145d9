"""The fast renderer gives exactly Django's text, or steps aside."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.template import Context
from django.template.loader import get_template
from django.utils.safestring import mark_safe

from channels.engine import compile_template
from channels.flat import plan_for, render_flat

VALUES = {
    "first_name": "Ada",
    "empty": "",
    "risky": 'Tom & "Jerry" <b>\'s</b>',
    "safe_html": mark_safe("<b>bold</b>"),
    "count": 3,
    "price": Decimal("9.50"),
    "ratio": 0.25,
    "flag": True,
    "nothing": None,
    "when": datetime(2026, 3, 10, 17, 0, tzinfo=UTC),
    "items": ["a", "<b>"],
    "profile": {"first_name": "Ada", "last_name": "", "nested": {"deep": "x&y"}},
    "event": {"product": "Tea & Cakes", "qty": 2, "tags": {"a": 1}},
    "traits": {"vip": False, "plan": "gold"},
}

FLAT = [
    "Hello {{ first_name }}",
    "{{ risky }} and {{ safe_html }}",
    "{{ count }} {{ price }} {{ ratio }} {{ flag }} {{ nothing }} {{ when }} {{ items }}",
    "{{ profile.first_name }}/{{ profile.last_name }}/{{ profile.nested.deep }}",
    "{{ event.product }} x{{ event.qty }} {{ event.tags }} {{ traits.vip }}",
    "{% if first_name %}Hi {{ first_name }}{% else %}Hi there{% endif %}!",
    "{% if empty %}A{% elif traits.vip %}B{% elif traits.plan %}C{% endif %}",
    "{% if nothing %}A{% endif %}{% if count %}{{ count }}{% endif %}",
    "{% autoescape off %}{{ risky }}{% endautoescape %} {{ risky }}",
    "{% autoescape on %}{{ risky }}{% endautoescape %}",
    "{# a note #}{% comment %}hidden {{ risky }}{% endcomment %}{{ first_name }}",
    "",
    "no variables at all",
]
# Names the dict cannot answer, or lookups Django resolves another way: Django renders.
MISSES = [
    "{{ missing }}",
    "{{ profile.missing }}",
    "{{ event.items }}",
    "{{ items.0 }}",
    "{{ first_name.upper }}",
    "{% if missing %}A{% endif %}",
    "{{ True }}",
]
# Filters, loops, literals, complex conditions: no plan at all.
UNSUPPORTED = [
    "{{ first_name|upper }}",
    "{% for i in items %}{{ i }}{% endfor %}",
    '{{ "literal" }}',
    "{% if count > 1 %}A{% endif %}",
    "{% if not flag %}A{% endif %}",
    "{% with a=first_name %}{{ a }}{% endwith %}",
]


def django_render(source: str, autoescape: bool) -> str:
    return compile_template(source, autoescape=autoescape).render(
        Context(VALUES, autoescape=autoescape)
    )


@pytest.mark.parametrize("autoescape", [True, False])
@pytest.mark.parametrize("source", FLAT)
def test_simple_templates_render_to_django_s_exact_text(source, autoescape):
    plan = plan_for(compile_template(source, autoescape=autoescape))

    assert plan is not None
    text = render_flat(plan, VALUES, autoescape=autoescape)
    assert text == django_render(source, autoescape)
    assert type(text) is type(django_render(source, autoescape))


@pytest.mark.parametrize("source", MISSES)
def test_anything_a_dict_lookup_cannot_answer_is_left_to_django(source):
    plan = plan_for(compile_template(source, autoescape=True))

    assert plan is not None
    assert render_flat(plan, VALUES, autoescape=True) is None


@pytest.mark.parametrize("source", UNSUPPORTED)
def test_templates_beyond_the_simple_subset_have_no_plan(source):
    assert plan_for(compile_template(source, autoescape=True)) is None


@pytest.mark.parametrize(
    "name",
    ["channels/email/footer.html", "channels/email/footer.txt", "channels/email/layout.html"],
)
@pytest.mark.parametrize("preheader", ["", "Sale & more"])
def test_our_email_templates_render_the_same_fast(name, preheader):
    values = {
        "company_name": "Tandem & Co",
        "postal_address": "1 Main St <Suite 2>",
        "unsubscribe_url": "https://tandem.example.com/unsubscribe/abc:def/",
        "preferences_url": "https://tandem.example.com/preferences/abc:def/",
        "body": mark_safe("<p>Hello</p>"),
        "subject": 'Hi "you"',
        "preheader": preheader,
    }
    template = get_template(name)
    plan = plan_for(template.template)

    assert plan is not None
    expected = template.render(values)
    assert render_flat(plan, values, autoescape=template.template.engine.autoescape) == expected
