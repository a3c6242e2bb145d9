"""Tracked short links: URLs in an SMS become /l/<code> links on our own domain."""

import re
from collections.abc import Callable
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from channels.models import Link, Message
from channels.models.tracking import new_link_code
from profiles.reverse import path_with

URL_PATTERN = re.compile(r"https?://[^\s<>\"']+")
# Sentence punctuation right after a URL belongs to the sentence, not the URL.
TRAILING = ".,;:!?)]}'\""
SLOT = "tandem-code-slot"


class PendingLink(NamedTuple):
    """A short link drawn for a message, stored later with its batch (links_save)."""

    message: Message
    url: str
    code: str


def short_url(link: Link | PendingLink) -> str:
    """Link.short_url, without a reverse() per link."""
    return f"{settings.PUBLIC_BASE_URL}{path_with('channels:link', link.code)}"


def short_url_shape() -> tuple[str, str]:
    """What comes before and after the code in every short URL (read once per batch)."""
    before, after = short_url(PendingLink(None, "", SLOT)).split(SLOT)
    return before, after


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


def shorten_urls(
    text: str,
    *,
    message: Message,
    pending: list[PendingLink] | None = None,
    shape: tuple[str, str] | None = None,
) -> str:
    """Replace every http(s) URL in `text` with a tracked short link for `message`.

    With `pending`, the links are appended there unsaved, for `links_save` to store at once
    (`shape`: short_url_shape(), if the caller has it).
    """
    if "http" not in text:  # no URL_PATTERN match is possible
        return text
    if pending is not None:
        before, after = shape or short_url_shape()

    def replace(match: re.Match) -> str:
        url, tail = _split_trailing(match.group(0))
        if pending is None:
            return short_url(link_create(message=message, url=url)) + tail
        link = PendingLink(message, url, new_link_code())
        pending.append(link)
        return f"{before}{link.code}{after}{tail}"

    return URL_PATTERN.sub(replace, text)


def links_save(links: list[PendingLink]) -> None:
    """Store a batch's links in one insert; on a code collision, draw new codes one by one
    and put them in the message bodies that already show the old ones."""
    if not links:
        return
    if connection.vendor == "postgresql":
        links_redraw(links_save_start(links)())
        return
    try:
        with transaction.atomic():
            Link.objects.bulk_create(
                Link(code=link.code, message=link.message, url=link.url) for link in links
            )
        return
    except IntegrityError:
        pass
    links_redraw(links)


def links_save_start(links: list[PendingLink]) -> Callable[[], list[PendingLink]]:
    """links_save's insert on PostgreSQL in two halves: the statement goes now, the function
    returned reads its answer and gives the links a code collision left out (for `links_redraw`;
    channels.services.claim sends this in pipeline mode). ON CONFLICT DO NOTHING: a
    collision leaves its link out instead of failing the insert, so no savepoint (two more
    round trips a batch) is needed around it."""
    if not links:
        return list
    cursor = _insert_postgres(links)

    def left_out() -> list[PendingLink]:
        with cursor:
            stored = set(cursor.fetchall())
        return [link for link in links if (link.code, link.message.pk, link.url) not in stored]

    return left_out


def links_redraw(links: list[PendingLink]) -> None:
    for link in links:
        saved = link_create(message=link.message, url=link.url)
        message = link.message
        message.body_text = message.body_text.replace(short_url(link), short_url(saved))


def _insert_postgres(links: list[PendingLink]):
    """One INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING: bulk_create's
    per-object work (a model instance and each field's preparation) cost more than the rest
    of a text's render. Returns the cursor, whose rows are the (code, message id, url) of
    the links stored."""
    from channels.services.bulk import binary_slot, server_bound_cursor

    meta = Link._meta
    column = {f.name: connection.ops.quote_name(f.column) for f in meta.concrete_fields}
    slot = binary_slot()
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} "
        f"({column['code']}, {column['message']}, {column['url']}, {column['clicks']}, "
        f"{column['first_clicked_at']}, {column['created_at']}) "
        "SELECT v.code, v.message_id, v.url, 0, NULL, %s "
        f"FROM unnest({slot}::varchar[], {slot}::bigint[], {slot}::varchar[]) "
        "AS v(code, message_id, url) ON CONFLICT DO NOTHING "
        f"RETURNING {column['code']}, {column['message']}, {column['url']}"
    )
    cursor = server_bound_cursor()
    try:
        cursor.execute(
            sql,
            [
                timezone.now(),
                [link.code for link in links],
                [link.message.pk for link in links],
                [link.url for link in links],
            ],
        )
    except BaseException:
        cursor.close()
        raise
    return cursor
