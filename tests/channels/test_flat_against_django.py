"""channels.flat gives exactly what Django gives, over awkward templates and values."""

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.template import Context
from django.utils.functional import lazystr
from django.utils.safestring import mark_safe
from django.utils.translation import override

from channels.engine import compile_template
from channels.flat import plan_for, render_flat


class D(dict):
    pass


VALUES = [
    "",
    "a<b>&'\"",
    mark_safe("<b>x</b>"),
    None,
    False,
    True,
    0,
    1,
    1.5,
    10.0,
    -0.0,
    1234567.891,
    Decimal("1234.50"),
    datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
    date(2026, 3, 10),
    [1, "<a>"],
    {"k": "<v>"},
    {},
    [],
    D(k="v"),
    lazystr("lazy<"),
    "0",
    " ",
    {"0": "zero", "items": "it"},
    ["first", "second"],
]
TEMPLATES = [
    "{{ v }}",
    "[{{ v.k }}]",
    "{{ v.0 }}",
    "{{ v.items }}",
    "{% if v %}yes{% endif %}",
    "{% if v %}y{% elif w %}e{% else %}n{% endif %}",
    "{% if not v %}n{% endif %}",
    "{% if v and w %}b{% endif %}",
    "{% autoescape off %}{{ v }}{% endautoescape %}",
    "{% autoescape on %}{{ v }}{% endautoescape %}",
    "{{ missing }}|{{ v }}",
    "{% if missing %}m{% else %}{{ v }}{% endif %}",
    "{# c #}{% comment %}x{% endcomment %}{{ v }}",
    "{{ w.v }}",
    "{{ None }}{{ True }}",
    "{% if w.v %}{{ w.v }}{% endif %}",
]


@pytest.mark.parametrize("autoescape", [True, False])
@pytest.mark.parametrize("lang", ["en", "de"])
def test_flat_is_django(autoescape, lang, settings):
    settings.USE_THOUSAND_SEPARATOR = lang == "de"
    with override(lang):
        for source, v in itertools.product(TEMPLATES, VALUES):
            compiled = compile_template(source, autoescape=autoescape)
            values = {"v": v, "w": {"v": v}}
            plan = plan_for(compiled)
            flat = render_flat(plan, values, autoescape=autoescape) if plan else None
            django = compiled.render(Context(values, autoescape=autoescape))
            if flat is not None:
                assert (source, v, flat) == (source, v, django)
