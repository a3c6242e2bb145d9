"""CSS inlining once per template version (and branch), not once per message.

css_inline parses a page, matches its style sheets against the elements, writes the
matching declarations into style attributes and serialises the page again: ~45 us an
email, although every email of a template differs from the next only in its values (names,
links). `inline_marked` takes a page rendered with each escaped value between
`MARK_OPEN`/`MARK_CLOSE` (channels.flat, `mark=True`). The text between the values (the
"skeleton") is the cache key: its first page is inlined with a placeholder token for each
value, and every later page with the same skeleton is the inlined skeleton with its own
values written in where the tokens came out, escaped as css_inline's serialiser escapes
them. The result is the string `css_inline.inline(page)` gives (tests compare the two over
many pages and values); anything this cannot vouch for is inlined the ordinary way:

- a value takes part only if it reads back as the same text with no markup: it is escaped
  text (no `<`; `&` only in Django's five entities), not empty, does not start with
  whitespace (HTML parses leading whitespace differently in some places, e.g. in <head>),
  has no NUL or CR (the parser drops or rewrites them), and the text before it does not
  end in an unfinished character reference. Any other value is part of the skeleton.
- a skeleton takes part only if each token comes out exactly once, in element text or in
  an href/src/alt/title attribute (never style, class, id: they change what CSS matches),
  with no attribute selector or @import in its style sheets and no <link> element.
- a value in an attribute must have no whitespace (an unquoted attribute would end at it).
"""

import re
import secrets
import threading
from collections import OrderedDict

import css_inline

from channels.flat import MARK_CLOSE, MARK_OPEN

CACHED = 256  # skeletons kept (a template version and its {% if %} branches)
# Escaped text that parses back to itself as one text run (see the module's notes).
_REFERENCE_NAME = re.compile(r"[A-Za-z0-9#]*\Z")
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style", re.IGNORECASE | re.DOTALL)
_MARKUP = re.compile(r'<!--.*?-->|<![^>]*>|<(/?)([A-Za-z][^\s/>]*)((?:[^>"]|"[^"]*")*)>', re.DOTALL)
_ATTRIBUTE = re.compile(r'\s+([^\s="/>]+)(?:="([^"]*)")?')
_RAW_TEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript"})
_VALUE_ATTRIBUTES = frozenset({"href", "src", "alt", "title"})
_NO_VALUE_ELEMENTS = frozenset({"base", "link", "meta", "style", "script"})
_TEXT, _ATTR = "text", "attr"

_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


def unmark(text: str) -> str:
    return text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


def inline_marked(marked: str) -> str:
    """css_inline.inline(unmark(marked)), from the cache where it can vouch for it."""
    literals, values = _skeleton(marked)
    if literals is None:
        return css_inline.inline(unmark(marked))
    key = tuple(literals)
    with _lock:
        known = key in _cache
        entry = _cache.get(key)
        if known:
            _cache.move_to_end(key)
    if not known:
        entry = _inline_skeleton(literals)
        with _lock:
            _cache[key] = entry
            while len(_cache) > CACHED:
                _cache.popitem(last=False)
    if entry is None:
        return css_inline.inline(unmark(marked))
    parts, contexts = entry
    out = [parts[0]]
    for (index, after), context in zip(parts[1], contexts, strict=True):
        value = values[index]
        if context is _TEXT:
            out.append(_text(value))
        elif value.split() == [value]:  # an attribute value without whitespace
            out.append(_attribute(value))
        else:
            return css_inline.inline(unmark(marked))
        out.append(after)
    return "".join(out)


def _skeleton(marked: str) -> tuple[list[str] | None, list[str]]:
    """(the literal texts around the values that take part, those values); the values
    that cannot take part are folded into the literals. None: marks out of place."""
    pieces = marked.split(MARK_OPEN)
    if MARK_CLOSE in pieces[0]:
        return None, []
    literals, values = [pieces[0]], []
    for piece in pieces[1:]:
        value, close, after = piece.partition(MARK_CLOSE)
        if not close or MARK_CLOSE in after:
            return None, []
        if _takes_part(value) and not _unfinished_reference(literals[-1]):
            values.append(value)
            literals.append(after)
        else:
            literals[-1] += value + after
    return literals, values


def _takes_part(value: str) -> bool:
    """Escaped text that parses back to itself as one text run (see the module's notes):
    not empty, no leading whitespace, no NUL, CR, markup or quote characters, and `&` only
    in the entities Django's escaping writes."""
    if not value or value[0] in " \t\n\f\r":
        return False
    for character in "\x00\r<>\"'":
        if character in value:
            return False
    if "&" in value:
        for entity in _ENTITIES:
            value = value.replace(entity, "")
        return "&" not in value
    return True


_ENTITIES = ("&amp;", "&lt;", "&gt;", "&quot;", "&#x27;")


def _unfinished_reference(text: str) -> bool:
    """Whether `text` ends in `&` and letters, digits or `#`: the start of a character
    reference that the next value could finish (or change)."""
    ampersand = text.rfind("&")
    return ampersand >= 0 and _REFERENCE_NAME.match(text, ampersand + 1) is not None


def _text(value: str) -> str:
    """Django's escaping of a text value, as css_inline's serialiser writes that text."""
    if "&" in value:
        value = value.replace("&#x27;", "'").replace("&quot;", '"')
    return value.replace("\xa0", "&nbsp;") if "\xa0" in value else value


def _attribute(value: str) -> str:
    if "&" in value:
        value = value.replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">")
    return value.replace("\xa0", "&nbsp;") if "\xa0" in value else value


def _inline_skeleton(literals: list[str]):
    """((first part, ((value index, part after it), ...)), contexts) of the inlined
    skeleton, or None when it cannot vouch for it."""
    text = "".join(literals)
    if "<link" in text.lower() or "@import" in text.lower():
        return None
    nonce = secrets.token_hex(4)
    token = f"tdm{nonce}x{{}}x"
    if f"tdm{nonce}" in text:
        return None
    page = literals[0] + "".join(
        token.format(index) + after for index, after in enumerate(literals[1:])
    )
    try:
        out = css_inline.inline(page)
    except Exception:  # the same page with its values will say what is wrong
        return None
    found = re.split(f"tdm{nonce}x([0-9]+)x", out)
    indexes = [int(found[i]) for i in range(1, len(found), 2)]
    if sorted(indexes) != list(range(len(literals) - 1)):
        return None  # a value dropped (e.g. inside <style>) or repeated
    contexts = _contexts(out, f"tdm{nonce}x", len(indexes))
    if contexts is None:
        return None
    if _ATTR in contexts and any("[" in css for css in _STYLE.findall(text)):
        return None  # an attribute selector could match on a value
    parts = tuple(
        (indexes[i], found[2 * i + 2]) for i in range(len(indexes))
    )  # in the order the tokens came out
    return (found[0], parts), contexts


def _contexts(out: str, prefix: str, count: int) -> tuple[str, ...] | None:
    """_TEXT or _ATTR for each token of `out` in the order they come out; None if one is
    anywhere else (a comment, raw text, a tag or attribute name, a disallowed attribute)."""
    found: list[str] = []
    position, raw_until = 0, None
    for markup in _MARKUP.finditer(out):
        between = out[position : markup.start()]
        if prefix in between:
            if raw_until is not None:
                return None
            found += [_TEXT] * between.count(prefix)
        position = markup.end()
        closing, name, attributes = markup.group(1), markup.group(2), markup.group(3)
        if name is None:  # a comment or a doctype
            if prefix in markup.group(0):
                return None
            continue
        name = name.lower()
        if raw_until is not None:
            if closing and name == raw_until:
                raw_until = None
            continue
        if prefix in markup.group(0):
            if closing or prefix in name:
                return None
            for attribute in _ATTRIBUTE.finditer(attributes):
                if prefix in attribute.group(1):
                    return None
                value = attribute.group(2) or ""
                if prefix in value:
                    if (
                        attribute.group(1).lower() not in _VALUE_ATTRIBUTES
                        or name in _NO_VALUE_ELEMENTS
                    ):
                        return None
                    found += [_ATTR] * value.count(prefix)
        if not closing and name in _RAW_TEXT:
            raw_until = name
    if prefix in out[position:]:
        if raw_until is not None:
            return None
        found += [_TEXT] * out[position:].count(prefix)
    return tuple(found) if len(found) == count else None
