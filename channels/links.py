"""Tracked short links: URLs in an SMS become /l/<code> links on our own domain."""

import re

from django.conf import settings
from django.db import IntegrityError, transaction

from channels.models import Link, Message
from profiles.reverse import path_with

URL_PATTERN = re.compile(r"https?://[^\s<>\"']+")
# Sentence punctuation right after a URL belongs to the sentence, not the URL.
TRAILING = ".,;:!?)]}'\""


def short_url(link: Link) -> str:
    """Link.short_url, without a reverse() per link."""
    return f"{settings.PUBLIC_BASE_URL}{path_with('channels:link', link.code)}"


def _split_trailing(url: str) -> tuple[str, str]:
    stripped = url.rstrip(TRAILING)
    return stripped, url[len(stripped) :]


def link_create(*, message: Message, url: str) -> Link:
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return Link.objects.create(message=message, url=url)
        except IntegrityError:  # a code collision: draw another
            continue
    raise RuntimeError("could not draw a free link code")


def shorten_urls(text: str, *, message: Message, pending: list[Link] | None = None) -> str:
    """Replace every http(s) URL in `text` with a tracked short link for `message`.

    With `pending`, the links are appended there unsaved, for `links_save` to store at once.
    """

    def replace(match: re.Match) -> str:
        url, tail = _split_trailing(match.group(0))
        if pending is None:
            return short_url(link_create(message=message, url=url)) + tail
        link = Link(message=message, url=url)
        pending.append(link)
        return short_url(link) + tail

    return URL_PATTERN.sub(replace, text)


def links_save(links: list[Link]) -> None:
    """Store a batch's links in one insert; on a code collision, draw new codes one by one
    and put them in the message bodies that already show the old ones."""
    if not links:
        return
    try:
        with transaction.atomic():
            Link.objects.bulk_create(links)
        return
    except IntegrityError:
        pass
    for link in links:
        saved = link_create(message=link.message, url=link.url)
        message = link.message
        message.body_text = message.body_text.replace(short_url(link), short_url(saved))
