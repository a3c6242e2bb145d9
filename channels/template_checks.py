"""What a template must hold before it can be saved (COMPLIANCE.md: Email, SMS content)."""

import re

from django.conf import settings
from django.template import TemplateSyntaxError

from channels.engine import compile_template
from profiles.models import Channel


def _uses(source: str, name: str) -> bool:
    return re.search(r"\{\{\s*" + name + r"\s*[|}]", source or "") is not None


def has_email_footer(source: str) -> bool:
    """The standard footer, or both the unsubscribe link and the postal address."""
    return _uses(source, "footer") or (
        _uses(source, "unsubscribe_url") and _uses(source, "postal_address")
    )


def names_brand(source: str) -> bool:
    return _uses(source, "brand") or settings.SMS_BRAND_NAME.lower() in (source or "").lower()


def _syntax_errors(template) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field in ("subject", "preheader", "body_html", "body_text", "sms_body"):
        try:
            compile_template(getattr(template, field) or "", autoescape=field == "body_html")
        except TemplateSyntaxError as error:
            errors[field] = [f"Template error: {error}"]
    return errors


def _email_errors(template) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not template.subject.strip():
        errors["subject"] = ["An email needs a subject."]
    if not (template.body_html.strip() or template.body_text.strip()):
        errors["body_html"] = ["An email needs an HTML or a text body."]
    if template.is_marketing:
        message = (
            "Marketing email must show the postal address and an unsubscribe link: "
            "add {{ footer }} (or {{ unsubscribe_url }} and {{ postal_address }})."
        )
        for field in ("body_html", "body_text"):
            source = getattr(template, field)
            if source.strip() and not has_email_footer(source):
                errors.setdefault(field, []).append(message)
    return errors


def _sms_errors(template) -> dict[str, list[str]]:
    if not template.sms_body.strip():
        return {"sms_body": ["An SMS needs a body."]}
    if template.is_marketing and not names_brand(template.sms_body):
        return {
            "sms_body": [
                f"Marketing SMS must name the brand: add {{{{ brand }}}} or "
                f"“{settings.SMS_BRAND_NAME}”."
            ]
        }
    return {}


def template_errors(template) -> dict[str, list[str]]:
    errors = _syntax_errors(template)
    if template.channel == Channel.EMAIL:
        checks = _email_errors(template)
    else:
        checks = _sms_errors(template)
    for field, messages in checks.items():
        errors.setdefault(field, []).extend(messages)
    switch = template.switch_template
    if switch is not None and switch.channel == template.channel:
        errors["switch_template"] = ["The switch template must be on the other channel."]
    return errors
