"""Render a Message from its template: restricted context, inlined CSS, footers, headers.

Email: the marketer's HTML inside our layout, CSS inlined (css-inline), the footer with the
postal address and the unsubscribe and preferences links in both parts, and on marketing
mail exactly one `List-Unsubscribe` (the RFC 8058 HTTPS URL), one `List-Unsubscribe-Post`
and a `List-Id`. SMS: URLs become tracked short links, and "Reply STOP to opt out" is
appended to the first marketing text to a number (or every one, by setting).
"""

import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

import css_inline
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template import Context, TemplateSyntaxError
from django.template.loader import get_template
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe

from channels.css import inline_marked, unmark
from channels.engine import compile_template, render_string
from channels.flat import Marked, plan_for, render_flat
from channels.links import PendingLink, short_url_shape, shorten_urls
from channels.models import Message, MessageStatus, MessageTemplate
from channels.segments import GSM7_BASIC, LIMITS, count
from compliance.reads import AnyOf, read_rows
from compliance.services import profile_address
from compliance.tokens import HostedLinks
from profiles.models import Channel, Profile

STOP_FOOTER = "Reply STOP to opt out"
FOOTER_HTML, FOOTER_TEXT = "channels/email/footer.html", "channels/email/footer.txt"
LAYOUT = "channels/email/layout.html"
TEXTED = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNKNOWN)
PROFILE_FIELDS = ("first_name", "last_name", "email", "external_id", "locale", "country")


class RenderError(Exception):
    """The template cannot produce a compliant message; `code` is the reason recorded."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(detail or code)
        self.code = code


@dataclass
class RenderBatch:
    """What a batch render reads once and writes once: numbers already sent a marketing text
    (so the STOP line goes on the first only), the short links to store at the end, and
    what every message of the batch shares (settings, URL shapes, our own template files)."""

    texted: set[str] = field(default_factory=set)
    links: list[PendingLink] = field(default_factory=list)
    short_links: tuple[str, str] = field(default_factory=short_url_shape)
    hosted: HostedLinks = field(default_factory=HostedLinks)
    files: dict = field(default_factory=dict)  # our template files by name, loaded once
    shared: dict = field(default_factory=lambda: _shared_values())
    list_host: str = field(default_factory=lambda: urlsplit(settings.PUBLIC_BASE_URL).hostname)
    stop_every_time: bool = field(
        default_factory=lambda: bool(settings.SMS_STOP_FOOTER_EVERY_MESSAGE)
    )

    def file(self, name: str):
        template = self.files.get(name)
        if template is None:
            template = self.files[name] = get_template(name)
        return template


def _shared_values() -> dict:
    return {
        "brand": settings.SMS_BRAND_NAME,
        "company_name": settings.COMPANY_NAME,
        "postal_address": settings.COMPANY_POSTAL_ADDRESS,
    }


@dataclass(frozen=True)
class Rendered:
    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    segments: int | None = None


def profile_context(profile: Profile) -> dict:
    values = {name: getattr(profile, name) or "" for name in PROFILE_FIELDS}
    values["phone"] = profile.phone_text
    values["full_name"] = profile.full_name
    return {"profile": values, "traits": dict(profile.traits or {}), **values}


def base_context(
    message: Message,
    profile: Profile,
    *,
    source: str | None = None,
    batch: RenderBatch | None = None,
) -> dict:
    """The values a template sees. With `source` (the one template to be rendered), the
    signed preferences link is only made if that template can print it."""
    batch = batch or RenderBatch()
    event = dict(message.trigger_event.properties) if message.trigger_event_id else {}
    event.update(message.context or {})
    context = {**profile_context(profile), "event": event, **batch.shared}
    if source is None or _may_print(source, "preferences_url"):
        context["preferences_url"] = batch.hosted.preferences_url(profile)
    return context


def _may_print(source: str, name: str) -> bool:
    """Whether a template could show `name`: it names it, or dumps the context ({% debug %}).
    The engine has no includes, so a template shows only what its own source names."""
    return name in source or "debug" in source


def render(message: Message, profile: Profile, *, batch: RenderBatch | None = None) -> Rendered:
    try:
        if message.channel == Channel.EMAIL:
            return render_email(message, profile, batch)
        return render_sms(message, profile, batch)
    except TemplateSyntaxError as error:  # a runtime tag error, e.g. a bad filter argument
        raise RenderError("render_error", str(error)) from error


@lru_cache(maxsize=512)
def _compiled(pk: int, updated_at, name: str, source: str, autoescape: bool):
    return compile_template(source, autoescape=autoescape)


def render_field(template: MessageTemplate, name: str, context: dict, *, autoescape: bool) -> str:
    """Render one field of a saved template, compiled once per (template, version, field)."""
    source = getattr(template, name)
    if not source:
        return ""
    if template.pk is None:
        return render_string(source, context, autoescape=autoescape)
    compiled = _compiled(template.pk, template.updated_at, name, source, autoescape)
    return _run(compiled, context, autoescape)


def _run(compiled, context: dict, autoescape: bool) -> str:
    """Render a compiled template: the simple ones without Django's machinery (same text)."""
    text = _flat(compiled, context, autoescape)
    return text if text is not None else compiled.render(Context(context, autoescape=autoescape))


def _flat(compiled, context: dict, autoescape: bool) -> str | None:
    """The fast rendering of channels.flat, or None where only Django can render it."""
    plan = plan_for(compiled)
    return None if plan is None else render_flat(plan, context, autoescape=autoescape)


def render_to_string(name: str, context: dict, *, batch: RenderBatch | None = None) -> str:
    """django.template.loader.render_to_string, through `_flat` for a Django template."""
    template = batch.file(name) if batch is not None else get_template(name)
    compiled = getattr(template, "template", None)
    if compiled is not None and hasattr(compiled, "nodelist"):
        text = _flat(compiled, context, compiled.engine.autoescape)
        if text is not None:
            return text
    return template.render(context)


# --- email -----------------------------------------------------------------------------


def render_email(message: Message, profile: Profile, batch: RenderBatch | None = None) -> Rendered:
    batch = batch or RenderBatch()
    template = message.template
    context = base_context(message, profile, batch=batch)
    topic = message.topic.key if message.topic_id else ""
    context["unsubscribe_url"] = batch.hosted.unsubscribe_url(profile, channel="email", topic=topic)
    subject = " ".join(render_field(template, "subject", context, autoescape=False).split())
    preheader = render_field(template, "preheader", context, autoescape=False)
    html_part, html = _html(template, context, subject, preheader, batch)
    text_context = {**context, "footer": render_to_string(FOOTER_TEXT, context, batch=batch)}
    if template.body_text:
        text_part = render_field(template, "body_text", text_context, autoescape=False)
    else:
        text_part = render_string(strip_tags(html_part), text_context, autoescape=False)
    if message.category == "marketing":
        _require_footer(context, html=html_part, text=text_part)
    headers = (
        marketing_headers(context, message, host=batch.list_host)
        if message.category == "marketing"
        else {}
    )
    return Rendered(subject=subject, body_text=text_part, body_html=html, headers=headers)


def _html(
    template: MessageTemplate, context: dict, subject: str, preheader: str, batch: RenderBatch
) -> tuple[str, str]:
    """(the marketer's HTML with our footer, the whole page in our layout with its CSS
    inlined), or ("", "") without an HTML body."""
    if template.body_html and template.pk is not None:
        marked = _marked_page(template, context, subject, preheader, batch)
        if marked is not None:
            body, page = marked
            return unmark(body), inline_marked(page)
    footer = render_to_string(FOOTER_HTML, context, batch=batch)
    html_part = render_field(
        template, "body_html", {**context, "footer": mark_safe(footer)}, autoescape=True
    )
    html = _layout(html_part, subject, preheader, batch) if template.body_html else ""
    return html_part, html


def _marked_page(template, context, subject, preheader, batch) -> tuple[Marked, Marked] | None:
    """The HTML part and the page rendered with their values marked (channels.css), or
    None where a template is beyond channels.flat (then it is rendered the usual way)."""
    footer = _marked_file(FOOTER_HTML, context, batch)
    if footer is None:
        return None
    source = template.body_html
    compiled = _compiled(template.pk, template.updated_at, "body_html", source, True)
    plan = plan_for(compiled)
    if plan is None:
        return None
    body = render_flat(plan, {**context, "footer": footer}, autoescape=True, mark=True)
    if body is None:
        return None
    values = {"body": body, "subject": subject, "preheader": preheader}
    page = _marked_file(LAYOUT, values, batch)
    return None if page is None else (body, page)


def _marked_file(name: str, context: dict, batch: RenderBatch) -> Marked | None:
    compiled = getattr(batch.file(name), "template", None)
    plan = plan_for(compiled) if compiled is not None and hasattr(compiled, "nodelist") else None
    if plan is None:
        return None
    return render_flat(plan, context, autoescape=compiled.engine.autoescape, mark=True)


def _layout(body: str, subject: str, preheader: str, batch: RenderBatch | None = None) -> str:
    page = render_to_string(
        LAYOUT,
        {"body": mark_safe(body), "subject": subject, "preheader": preheader},
        batch=batch,
    )
    return css_inline.inline(page)


def _require_footer(context: dict, *, html: str, text: str) -> None:
    """The template passed its checks, but an {% if %} may still hide the footer."""
    needed = (context["unsubscribe_url"], context["postal_address"])
    for part_name, part in (("html", html), ("text", text)):
        if part and not all(value in part for value in needed):
            raise RenderError(
                "template_missing_footer",
                f"the {part_name} part lacks the unsubscribe link or the postal address",
            )


def list_id(message: Message, *, host: str | None = None) -> str:
    host = (host if host is not None else urlsplit(settings.PUBLIC_BASE_URL).hostname) or (
        "localhost"
    )
    key = message.topic.key if message.topic_id else "marketing"
    name = message.topic.name if message.topic_id else f"{settings.COMPANY_NAME} marketing"
    return f'"{name}" <{key}.{host}>'


def marketing_headers(
    context: dict, message: Message, *, host: str | None = None
) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": list_id(message, host=host),
    }


# --- SMS -------------------------------------------------------------------------------


def render_sms(message: Message, profile: Profile, batch: RenderBatch | None = None) -> Rendered:
    shared = batch or RenderBatch()
    source = message.template.sms_body or ""
    context = base_context(message, profile, source=source, batch=shared)
    body = render_field(message.template, "sms_body", context, autoescape=False).strip()
    if batch is None:
        body = shorten_urls(body, message=message)
    else:
        body = shorten_urls(body, message=message, pending=batch.links, shape=batch.short_links)
    if message.category == "marketing" and _needs_stop_footer(message, body, batch, shared):
        body = f"{body}\n{STOP_FOOTER}"
    if message.category == "marketing" and batch is not None:
        batch.texted.add(message.to_address)
    return Rendered(body_text=body, segments=_segments(body))


def _segments(body: str) -> int:
    """count(body).segments; a text of GSM-7 basic characters only (one septet each) is
    counted without count's per-character pass."""
    if not GSM7_BASIC.issuperset(body):
        return count(body).segments
    length, (single, multi) = len(body), LIMITS["GSM-7"]
    if length <= single:
        return 1 if length else 0
    return -(-length // multi)


STOP_WORD = re.compile(r"\bSTOP\b")


def _needs_stop_footer(
    message: Message, body: str, batch: RenderBatch | None, shared: RenderBatch
) -> bool:
    if STOP_WORD.search(body):
        return False  # the template already says how to opt out
    if shared.stop_every_time:
        return True
    if batch is not None:
        return message.to_address not in batch.texted
    return not texted_numbers([message.to_address], exclude=message.pk)


def texted_numbers(numbers, *, exclude: int | None = None) -> set[str]:
    """The numbers among `numbers` that were already sent (or are being sent) marketing SMS."""
    if exclude is None:
        rows = read_rows("rendering:texted", _texted, list(numbers))
        return {number for (number,) in rows}
    rows = _texted(list(numbers)).exclude(pk=exclude)
    return {number for (number,) in rows}


def _texted(numbers):
    return (
        Message.objects.filter(
            AnyOf(F("to_address"), numbers),
            channel=Channel.SMS,
            category="marketing",
            status__in=TEXTED,
        )
        .order_by()
        .values_list("to_address")
        .distinct()
    )


def render_preview(*, template, profile: Profile) -> tuple[Rendered | None, str]:
    """Render exactly as dispatch would, then roll back (no message or link is kept)."""
    with transaction.atomic():
        message = Message.objects.create(
            profile=profile,
            template=template,
            channel=template.channel,
            category=template.category,
            topic=template.topic,
            to_address=profile_address(profile, template.channel),
            idempotency_key=f"preview:{uuid.uuid4()}",
        )
        try:
            rendered, error = render(message, profile), ""
        except RenderError as failure:
            rendered, error = None, str(failure)
        transaction.set_rollback(True)
    return rendered, error
