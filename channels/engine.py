"""The template engine marketers' templates run in: Django's language, nothing else.

No loaders (so no {% include %} or {% extends %} of files), no tag libraries to load, and a
context of plain values built by `channels.rendering` (never model instances), so a
template can print what it is given and nothing more.
"""

from functools import cache

from django.template import Context, Engine, Template


@cache
def engine(*, autoescape: bool) -> Engine:
    return Engine(
        dirs=[],
        app_dirs=False,
        loaders=[],
        libraries={},
        autoescape=autoescape,
        string_if_invalid="",
        debug=False,
    )


def compile_template(source: str, *, autoescape: bool) -> Template:
    return engine(autoescape=autoescape).from_string(source)


def render_string(source: str, context: dict, *, autoescape: bool) -> str:
    if not source:
        return ""
    template = compile_template(source, autoescape=autoescape)
    return template.render(Context(context, autoescape=autoescape))
