"""Tracked short links: URLs in an SMS become /l/<code> links on our own domain."""

import re

from django.db import IntegrityError, transaction

from channels.models import Link, Message

URL_PATTERN = re.compile(r"https?://[^\s<>\"']+")
# Sentence punctuation right after a URL belongs to the sentence, not the URL.
TRAILING = ".,;:!?)]}'\""


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


def shorten_urls(text: str, *, message: Message) -> str:
    """Replace every http(s) URL in `text` with a tracked short link for `message`."""

    def replace(match: re.Match) -> str:
        url, tail = _split_trailing(match.group(0))
        return link_create(message=message, url=url).short_url + tail

    return URL_PATTERN.sub(replace, text)
