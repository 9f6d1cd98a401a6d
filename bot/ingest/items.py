"""Building a FeedItem from what a parser found: the shared rules for RSS, Atom and JSON Feed
(length caps, a title from the summary when there is none, the lead image, dates in UTC).
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import html
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.ingest.image_rules import image_refusal
from bot.ingest.urls import canonical_link, canonical_url
from bot.linkcheck import link_problem
from bot.models import FeedItem
from bot.text import clean_title, cut_summary, html_to_text, plain_to_text

_TITLE_FROM_SUMMARY = 90  # characters of summary used as a title when the item has none
MAX_TITLE = 300  # characters; a longer title is cut (a post could not carry it anyway)
MAX_SUMMARY = 10_000  # characters of summary kept; longer ones are cut and lose their HTML
MAX_TEXT = 200_000  # characters of an item's full text
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""\s([a-zA-Z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def build_item(
    *,
    source_id: str,
    position: int,
    feed_url: str,
    guid: str,
    link: str,
    title: str,
    summary: str,
    summary_html: str,
    text: str,
    author: str,
    sections: Iterable[str],
    language: str,
    published: datetime | None,
    date_key: str,
    images: list[tuple[str, str]],
    html_for_image: str,
    problems: list[str],
) -> FeedItem | None:
    # The label names the item in problems only: it is built when there is one to name.
    raw_title, ident = title, guid or link
    if not link and is_url(guid):
        link = guid
    if not link:
        problems.append(f"{item_label(position, raw_title, ident)}: no link, and its id is "
                        "not a URL; skipped")
        return None
    url, linkable = canonical_link(link, feed_url)
    unlinkable = None if linkable else link_problem(url)
    if unlinkable:
        # javascript:, data:, file: … would be a live link in every post and digest, and a
        # file: one would be read from this machine's disk: such an item is not published.
        problems.append(f"{item_label(position, raw_title, ident)}: link "
                        f"{cut_summary(url, 80)!r} not used ({unlinkable}); skipped")
        return None
    title = clean_title(title)
    if len(title) > MAX_TITLE:
        problems.append(f"{item_label(position, raw_title, ident)}: the title is "
                        f"{len(title):,} characters; cut to {MAX_TITLE}")
        title = cut_summary(title, MAX_TITLE)
    if len(summary) > MAX_SUMMARY:
        # Cutting the HTML could leave it broken: the cut plain text stands in for it.
        summary, summary_html = cut_summary(summary, MAX_SUMMARY), ""
    if len(text) > MAX_TEXT:
        text = cut_summary(text, MAX_TEXT)
    if not title:
        title = clean_title(cut_summary(summary.replace("\n", " "), _TITLE_FROM_SUMMARY))
        if not title:
            problems.append(f"{item_label(position, raw_title, ident)}: no title and no "
                            "summary to take one from; skipped")
            return None
    if not guid:
        guid = url or "hash:" + hashlib.sha256(f"{title}\n{date_key}".encode()).hexdigest()[:32]
    image_url, image_alt, image_from_html = pick_image(images, html_for_image, url)
    unusable = link_problem(image_url) if image_url is not None else None
    if unusable:
        # A path such as /etc/passwd is a local file to python-telegram-bot: never pass it on.
        problems.append(f"{item_label(position, raw_title, ident)}: image "
                        f"{cut_summary(image_url or '', 80)!r} not used ({unusable})")
        image_url, image_alt = None, ""
    return new_item({
        "source_id": source_id,
        "guid": guid,
        "url": url,
        "title": title,
        "summary": summary,
        "summary_html": summary_html,
        "text": text,
        "author": author,
        "sections": _unique_sections(sections),
        "language": language,
        "published": published,
        "image_url": image_url,
        "image_alt": image_alt,
        "image_from_html": image_from_html,
        "image_problem": "",
    })


#: FeedItem's fields, in order: ``new_item`` is given every one of them.
ITEM_FIELDS = tuple(field.name for field in dataclasses.fields(FeedItem))


def new_item(fields: dict[str, Any]) -> FeedItem:
    """``FeedItem(**fields)`` for a dict holding every field (``ITEM_FIELDS``, in order).

    A frozen dataclass's ``__init__`` sets each of its 15 fields through
    ``object.__setattr__``: about 2 µs an item, a tenth of building one. FeedItem has no
    ``__post_init__`` and no slots, so its instance is its ``__dict__``: filled in one step,
    it is the same object (equal, and pickled the same; tests/test_item_fast_paths.py).
    """
    item: FeedItem = object.__new__(FeedItem)
    item.__dict__.update(fields)
    return item


def _unique_sections(sections: Iterable[str]) -> tuple[str, ...]:
    """The sections' plain text, empty ones dropped, each once, in order."""
    if isinstance(sections, list) and len(sections) == 1:
        only = plain(sections[0])  # most items name one section (or none)
        return (only,) if only else ()
    return tuple(dict.fromkeys(filter(None, map(plain, sections))))


def pick_image(images: list[tuple[str, str]], html_text: str, base: str
               ) -> tuple[str | None, str, bool]:
    """The item's lead image: ``(url, alt, found_in_html)``.

    The feed's declared images (``media:content``, enclosures, JSON Feed ``image``) come
    first; then the first ``<img>`` of the item's HTML that can be a picture: not declared
    under 100 px, not a tracking pixel, not a data URI, with a ``src`` that looks like an
    image path (``image_rules``).
    """
    for src, alt in images:
        if src.strip():
            url = canonical_url(src, base)
            if not image_refusal(url, declared=True):
                return url, alt, False
    for tag in _IMG_TAG.finditer(html_text):
        attributes = dict(_attributes(tag.group(0)))
        src = attributes.get("src", "").strip()
        if not src or src.lower().startswith("data:"):
            continue
        url = canonical_url(src, base)
        if image_refusal(url, width=attributes.get("width"), height=attributes.get("height")):
            continue
        return url, plain(attributes.get("alt", "")), True
    return None, "", False


def _attributes(tag: str) -> list[tuple[str, str]]:
    return [(m.group(1).lower(), html.unescape(m.group(2) or m.group(3) or m.group(4) or ""))
            for m in _ATTRIBUTE.finditer(tag)]


def item_label(position: int, title: str, ident: str) -> str:
    if title:
        return f"item {position} ({cut_summary(title, 60)!r})"
    if ident:
        return f"item {position} (id {ident!r})"
    return f"item {position}"


def text_of(value: str, kind: str) -> str:
    """Text of a feed field that is either HTML or plain text (feedparser says which)."""
    return plain(value) if kind == "text/plain" else html_to_text(value or "")


def plain(value: str) -> str:
    """Normalise plain text the way html_to_text does, without reading it as HTML, with
    paragraph breaks as spaces: ``html_to_text(html.escape(value)).replace("\\n\\n", " ")``
    (tests/test_text_fast_paths.py holds the two equal), without escaping ``value`` only for
    an HTML parser to unescape it again."""
    return plain_to_text(value).replace("\n\n", " ") if value else ""


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def language_of(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value.strip().replace("_", "-").lower()


def struct_to_utc(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def iso_to_utc(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        # feedparser (a slow import) is loaded only for a date that is not ISO 8601: never on
        # the fast path, whose dates fastfeedparser has already written in ISO form.
        from feedparser.datetimes import _parse_date

        return struct_to_utc(_parse_date(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
