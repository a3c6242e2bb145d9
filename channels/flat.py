"""Simple templates rendered without Django's per-render machinery, to the same text.

Most message templates, and our footers and layout, are text, plain `{{ name }}` or
`{{ profile.first_name }}` lookups, `{% if name %}` and `{% autoescape %}`. For those,
Django spends most of a render on its machinery (a Context, render-state pushes, node
annotation), not on the text. `plan_for` turns such a compiled template into a list of
steps once; `render_flat` runs them against a plain dict of plain values.

The result is exactly Django's: a value is escaped (or not) and localised by Django's own
`render_value_in_context`. Whenever a step would need more than a dict lookup (a missing
name, a callable, a lookup into something that is not a dict), `render_flat` returns None
and the caller renders with Django, so the fast path never guesses.
"""

from __future__ import annotations

from html import escape

from django.template import Context
from django.template.base import (
    FilterExpression,
    Template,
    TextNode,
    Variable,
    VariableNode,
    render_value_in_context,
)
from django.template.defaulttags import (
    AutoEscapeControlNode,
    CommentNode,
    IfNode,
    TemplateLiteral,
)
from django.utils.safestring import SafeString

_TEXT, _VAR, _IF, _ESCAPE = range(4)
_UNSUPPORTED = object()
# Context flags render_value_in_context reads (use_tz, use_l10n: Django's defaults).
_CONTEXTS = {True: Context(autoescape=True), False: Context(autoescape=False)}
# With `mark`, each escaped text value is written between these (private-use characters):
# channels.css finds the values of a rendered page by them.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"


class Marked(SafeString):
    """A render_flat(mark=True) result: its marks are ours, so a template it is a value of
    writes it as it is (any other text holding a mark character makes the marked render
    step aside, so that removing the marks always gives back the unmarked text)."""


class _Miss(Exception):
    """The fast path cannot be sure: render with Django."""


def plan_for(template: Template):
    """The template's steps, or None when it uses anything beyond the simple subset.
    Kept on the compiled template, so it lives exactly as long as Django's own cache."""
    plan = getattr(template, "_tandem_flat_plan", _UNSUPPORTED)
    if plan is _UNSUPPORTED:
        plan = _steps(template.nodelist)
        template._tandem_flat_plan = plan
    return plan


def render_flat(plan, values: dict, *, autoescape: bool, mark: bool = False) -> SafeString | None:
    """The template rendered against `values`, or None: render this one with Django.

    `mark`: every plain string value written escaped is put between MARK_OPEN and
    MARK_CLOSE (values written as they are, safe strings included, are not), and the result
    is Marked; None if any other text of the page holds a mark character."""
    try:
        if mark:
            return Marked("".join(_run(plan, values, autoescape, True)))
        return SafeString("".join(_run(plan, values, autoescape)))
    except _Miss:
        return None


def _unmarked(text: str) -> str:
    """`text` for a marked render: only our own marks may be in the page."""
    if MARK_OPEN in text or MARK_CLOSE in text:
        raise _Miss
    return text


def _steps(nodelist) -> tuple | None:
    steps = []
    for node in nodelist:
        kind = type(node)
        if kind is TextNode:
            steps.append((_TEXT, node.s))
        elif kind is CommentNode:
            continue
        elif kind is VariableNode:
            lookups = _lookups(node.filter_expression)
            if lookups is None:
                return None
            steps.append((_VAR, lookups))
        elif kind is AutoEscapeControlNode:
            inner = _steps(node.nodelist)
            if inner is None:
                return None
            steps.append((_ESCAPE, (node.setting, inner)))
        elif kind is IfNode:
            branches = []
            for condition, nodes in node.conditions_nodelists:
                inner = _steps(nodes)
                if inner is None:
                    return None
                if condition is None:
                    branches.append((None, inner))
                    continue
                if type(condition) is not TemplateLiteral:
                    return None
                lookups = _lookups(condition.value)
                if lookups is None:
                    return None
                branches.append((lookups, inner))
            steps.append((_IF, tuple(branches)))
        else:
            return None
    return tuple(steps)


def _lookups(expression) -> tuple[str, ...] | None:
    """The names of a filter-less `{{ a.b.c }}`; None for anything else."""
    if type(expression) is not FilterExpression or expression.filters:
        return None
    var = expression.var
    if type(var) is not Variable or var.literal is not None or var.translate or not var.lookups:
        return None
    return tuple(var.lookups)


def _value(values: dict, lookups: tuple[str, ...]):
    current = values
    for bit in lookups:
        if type(current) is not dict or bit not in current:
            raise _Miss
        current = current[bit]
    if callable(current):
        raise _Miss
    return current


def _run(plan, values: dict, autoescape: bool, mark: bool = False):
    out = []
    for kind, arg in plan:
        if kind == _TEXT:
            out.append(_unmarked(arg) if mark else arg)
        elif kind == _VAR:
            value = _value(values, arg)
            value_type = type(value)
            if value_type is str:
                if not mark:
                    out.append(escape(value) if autoescape else value)
                elif autoescape:  # conditional_escape's answer for a str: html.escape
                    out.append(f"{MARK_OPEN}{_unmarked(escape(value))}{MARK_CLOSE}")
                else:
                    out.append(_unmarked(value))
            elif value_type is SafeString:
                out.append(_unmarked(value) if mark else value)  # conditional_escape's answer
            elif value_type is Marked:
                out.append(value if mark else value.replace(MARK_OPEN, "").replace(MARK_CLOSE, ""))
            else:
                text = render_value_in_context(value, _CONTEXTS[autoescape])
                out.append(_unmarked(text) if mark else text)
        elif kind == _ESCAPE:
            out.append("".join(_run(arg[1], values, arg[0], mark)))
        else:
            for lookups, inner in arg:
                if lookups is None or _value(values, lookups):
                    out.append("".join(_run(inner, values, autoescape, mark)))
                    break
    return out
