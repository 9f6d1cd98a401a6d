"""Feed bytes in, ``FeedItem``s out: RSS 0.9x/1.0/2.0 and Atom through fastfeedparser, with
feedparser reading the whole feed whenever the fast result fails a check (fastparse.py); JSON
Feed 1.x by hand (feedparser 6.0 does not read it).

``parse_feed`` is the one seam; ``ParsedFeed.parser`` says which parser read the feed.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.errors import SourceError
from bot.ingest.fastparse import FastParseRejected, fast_date, read_fast
from bot.ingest.feedguard import (
    defuse_entities,
    first_items,
    repair_utf8,
    too_many,
)
from bot.ingest.feedlinks import absolute_links
from bot.ingest.items import (
    MAX_SUMMARY as MAX_SUMMARY,
)
from bot.ingest.items import (
    MAX_TEXT as MAX_TEXT,
)
from bot.ingest.items import (
    MAX_TITLE as MAX_TITLE,
)
from bot.ingest.items import (
    as_str,
    build_item,
    is_url,
    iso_to_utc,
    language_of,
    plain,
    struct_to_utc,
    text_of,
)
from bot.ingest.urls import strip_userinfo
from bot.models import FeedItem
from bot.text import html_to_text

# Hostile or broken feeds: feedparser reads ~1,700 items/s, so a 20,000-item feed would hold a
# poll for seconds; real feeds carry tens of items, newest first, so the first ones are kept.
MAX_ITEMS = 1000
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", re.I)
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_ALTERNATE_FEED = re.compile(
    r"<link\b(?=[^>]*\brel=[\"']?alternate)(?=[^>]*\btype=[\"']?application/(?:rss|atom|feed)\+"
    r"(?:xml|json))[^>]*\bhref=[\"']?([^\"'\s>]+)",
    re.IGNORECASE,
)


FASTFEEDPARSER = "fastfeedparser"
FEEDPARSER = "feedparser"
JSON_FEED = "jsonfeed"


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's title, the items it yielded, and what was wrong with it short of failing."""

    title: str
    items: tuple[FeedItem, ...]
    problems: tuple[str, ...] = ()
    parser: str = FEEDPARSER  # which parser read it: FASTFEEDPARSER, FEEDPARSER or JSON_FEED
    fallback_reason: str = ""  # why fastfeedparser's result was not used, when it was not


def parse_feed(
    source_id: str,
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    language: str = "",
    max_items: int = MAX_ITEMS,
    fast: bool = True,
) -> ParsedFeed:
    """Parse an RSS, Atom or JSON Feed document fetched from ``url``.

    ``headers`` are the response headers (their declared charset is respected). ``language``
    is the default when neither the item nor the feed declares one. Raises ``SourceError``
    when the body is not a feed at all (empty, an HTML page, malformed XML that yielded no
    items, JSON that is not a JSON Feed). Items the feed mangled (no link, no title) are
    skipped and named in ``problems``, as is a feed that was not well-formed but still
    yielded items.

    Hostile input stays bounded: only the first ``max_items`` items are read, titles,
    summaries and texts are cut to ``MAX_TITLE``/``MAX_SUMMARY``/``MAX_TEXT`` characters,
    stray invalid UTF-8 bytes and control characters are dropped (each named in
    ``problems``), and entity declarations are never expanded (see ``feedguard.defuse_entities``).
    Whatever else goes wrong inside a parser is a ``SourceError`` too, never another
    exception: one odd feed must not stop a poll of many.

    ``fast=False`` skips fastfeedparser and reads RSS and Atom with feedparser alone (the
    differential tests compare the two).
    """
    try:
        return _parse_feed(source_id, body, url=url, headers=headers, language=language,
                           max_items=max_items, fast=fast)
    except SourceError:
        raise
    except RecursionError:
        raise SourceError(
            source_id,
            f"{strip_userinfo(url)} is nested too deeply to read (a broken or hostile feed): "
            "ask the publisher to fix it",
            retryable=False,
        ) from None
    except Exception as exc:  # a parser bug on odd input: this source fails, not the poll
        raise SourceError(
            source_id,
            f"{strip_userinfo(url)} could not be parsed ({type(exc).__name__}: "
            f"{str(exc)[:200]}): check the feed; if it looks fine, report a newsbot bug",
            retryable=False,
        ) from None


def _parse_feed(
    source_id: str,
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    language: str = "",
    max_items: int = MAX_ITEMS,
    fast: bool = True,
) -> ParsedFeed:
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    declared = _CHARSET.search(lowered.get("content-type", ""))
    body, problems = repair_utf8(body, declared.group(1) if declared else "")
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    shown = strip_userinfo(url)
    if not stripped:
        raise SourceError(
            source_id, f"{shown} returned an empty body, not a feed: check the URL; will retry"
        )
    if stripped[:1] in (b"{", b"[") or content_type in (
        "application/feed+json",
        "application/json",
    ):
        parsed_json = _parse_json_feed(
            source_id, stripped, url=url, language=language, max_items=max_items
        )
        return replace(parsed_json, problems=(*problems, *parsed_json.problems),
                       parser=JSON_FEED)
    if _HTML_START.match(stripped[:2048]):
        raise _html_page_error(source_id, shown, stripped)
    body, defused = defuse_entities(body)
    if defused:
        problems.append(
            "the DOCTYPE declares entities that expand into other entities or are very large "
            "(an entity expansion attack or a broken feed); they were ignored"
        )
    body, total = first_items(body, max_items)
    if total > max_items:
        problems.append(too_many(total, max_items))

    reason = _no_fast_path(declared.group(1) if declared else "") if fast else "not tried"
    if not reason:
        try:
            title, _base, fast_items = read_fast(
                source_id, body, url=url, language=language,
                expected_items=min(total, max_items), problems=problems)
        except FastParseRejected as rejected:
            reason = str(rejected)
        else:
            if not total:
                problems.append("the feed has no items")
            return ParsedFeed(title, tuple(fast_items), tuple(problems), FASTFEEDPARSER)

    if is_url(url):
        lowered.setdefault("content-location", url)
    lowered.setdefault("content-type", "application/xml")  # a local file: let the XML say
    # Imported here, not at the top: a poll whose feeds all take the fast path never loads
    # feedparser (about a tenth of a second of start-up).
    import feedparser

    # Both off: html_to_text (and nh3 before any HTML reaches a digest) cleans the HTML, and
    # absolute_links resolves relative links, the same way for both parsers; feedparser's
    # own passes re-serialise every summary and cost about a third of its time.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=lowered,
                              sanitize_html=False, resolve_relative_uris=False)
    version = parsed.get("version", "")
    entries = parsed.get("entries", [])
    exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
    # Served with a non-XML type, or a charset the bytes contradict: feedparser copes.
    broken = exc is not None and type(exc).__name__ not in _HARMLESS_BOZO
    if not entries and (broken or not version):
        looks_html = b"<html" in stripped[:4096].lower()
        if content_type in ("text/html", "application/xhtml+xml") or looks_html:
            raise _html_page_error(source_id, shown, stripped)
        if broken:
            raise _malformed_error(source_id, shown, exc)
        raise SourceError(
            source_id,
            f"{shown} is XML but not RSS, Atom or JSON Feed: check the URL",
            retryable=False,
        )
    if exc is not None and type(exc).__name__ != "NonXMLContentType":
        problems.append(_bozo_problem(exc, len(entries)))
    captions = _media_descriptions(body)
    feed_meta = parsed.get("feed", {})
    if not is_url(url):  # a local file: relative links are relative to the feed's own site
        self_links = [
            x.get("href", "") for x in feed_meta.get("links") or [] if x.get("rel") == "self"
        ]
        url = next((x for x in [*self_links, feed_meta.get("link", "")] if is_url(x)), url)
    feed_language = language_of(feed_meta.get("language")) or language_of(language)
    items: list[FeedItem] = []
    before = len(problems)
    for position, entry in enumerate(entries, 1):
        item = _from_entry(source_id, entry, position, url, feed_language, captions, problems)
        if item is not None:
            items.append(item)
    if broken and not items:
        raise _malformed_error(source_id, shown, exc, problems[before:])
    if not entries:
        problems.append("the feed has no items")
    return ParsedFeed(plain(feed_meta.get("title", "")), tuple(items), tuple(problems),
                      FEEDPARSER, "" if reason == "not tried" else reason)


def _no_fast_path(charset: str) -> str:
    """Why fastfeedparser must not read this feed at all ("" when it may try)."""
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii"):
        # The HTTP header outranks the XML declaration; only feedparser weighs the two.
        return f"the server declares charset {charset}"
    return ""


# ---------------------------------------------------------------- RSS and Atom (feedparser)


def _from_entry(
    source_id: str,
    entry: Any,
    position: int,
    feed_url: str,
    feed_language: str,
    captions: frozenset[str],
    problems: list[str],
) -> FeedItem | None:
    title_detail = entry.get("title_detail") or {}
    raw_title = entry.get("title", "")
    title = text_of(raw_title, title_detail.get("type", "text/html"))
    summary_html = entry.get("summary", "") or ""
    contents = entry.get("content") or []
    content_html = max((c.get("value", "") or "" for c in contents), key=len, default="")
    caption = ""
    if captions and content_html and summary_html.strip() in captions:
        # feedparser files <media:description> (an image caption) as the summary and moves the
        # real <description> into content: undo that, and keep the caption as the image's alt.
        caption, summary_html, content_html = plain(summary_html), content_html, ""
    elif captions and content_html.strip() in captions:
        # ...or, when the caption comes after the <description>, as the content.
        caption, content_html = plain(content_html), ""
    if not summary_html:
        summary_html = content_html
    summary_html = absolute_links(summary_html, feed_url)
    content_html = absolute_links(content_html, feed_url)
    summary = html_to_text(summary_html)
    full_text = html_to_text(content_html) if content_html and content_html != summary_html else ""
    published = struct_to_utc(entry.get("published_parsed") or entry.get("updated_parsed"))
    if published is None and (entry.get("published") or entry.get("updated")):
        # A date feedparser cannot read (no zone, odd layout): the fast path's reader has a go,
        # so both paths give the same date.
        published = iso_to_utc(fast_date(entry.get("published") or entry.get("updated")) or "")
    guid = (entry.get("id") or "").strip()
    link = (entry.get("link") or "").strip()
    return build_item(
        source_id=source_id,
        position=position,
        feed_url=feed_url,
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        summary_html=summary_html,
        text=full_text,
        author=plain(entry.get("author", "")),
        sections=[tag.get("term") or tag.get("label") or "" for tag in entry.get("tags") or []],
        language=language_of(entry.get("language") or title_detail.get("language"))
        or feed_language,
        published=published,
        date_key=entry.get("published") or entry.get("updated") or "",
        images=[(src, alt or caption) for src, alt in _entry_images(entry)],
        html_for_image=content_html or summary_html,
        problems=problems,
    )


def _entry_images(entry: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for media in entry.get("media_content") or []:
        medium = (media.get("medium") or "").lower()
        mime = (media.get("type") or "").lower()
        is_image = medium == "image" or mime.startswith("image/") or not (medium or mime)
        if media.get("url") and is_image:
            found.append((media["url"], ""))
    for thumb in entry.get("media_thumbnail") or []:
        if thumb.get("url"):
            found.append((thumb["url"], ""))
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/"):
            found.append((link.get("href", ""), ""))
    image = entry.get("image")
    if isinstance(image, Mapping) and image.get("href"):
        found.append((str(image["href"]), ""))
    return found


_MEDIA_DESCRIPTION = re.compile(rb"<media:description\b[^>]*>(.*?)</media:description>", re.S)


def _media_descriptions(body: bytes) -> frozenset[str]:
    if b"media:description" not in body:
        return frozenset()
    found: set[str] = set()
    for match in _MEDIA_DESCRIPTION.finditer(body):
        value = match.group(1).strip()
        if value.startswith(b"<![CDATA[") and value.endswith(b"]]>"):
            value = value[9:-3]
        else:
            value = html.unescape(value.decode("utf-8", "replace")).encode()
        found.add(value.decode("utf-8", "replace").strip())
    return frozenset(found)


_HARMLESS_BOZO = frozenset({"NonXMLContentType", "CharacterEncodingOverride"})


def _malformed_error(
    source_id: str, shown: str, exc: object, problems: Iterable[str] = ()
) -> SourceError:
    detail = "".join(f"; {p}" for p in problems)
    return SourceError(
        source_id,
        f"{shown} is not a readable feed (malformed XML: {exc}) and no items could be read"
        f"{detail}: check the URL, or ask the publisher to fix the feed",
        retryable=False,
    )


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _bozo_problem(exc: object, count: int) -> str:
    name = type(exc).__name__
    if name == "CharacterEncodingOverride":
        return f"the declared character encoding was wrong ({exc}); {_items(count)} read anyway"
    if name == "NonXMLContentType":
        return f"served with a non-XML content type ({exc}); {_items(count)} read anyway"
    return f"the feed is not well-formed ({exc}); {_items(count)} read anyway"


# ---------------------------------------------------------------- JSON Feed 1.x


def _parse_json_feed(
    source_id: str, body: bytes, *, url: str, language: str, max_items: int
) -> ParsedFeed:
    shown = strip_userinfo(url)
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceError(
            source_id, f"{shown} is not valid JSON ({exc}): check the URL", retryable=False
        ) from None
    version = document.get("version", "") if isinstance(document, dict) else ""
    if not isinstance(document, dict) or "jsonfeed.org" not in str(version):
        raise SourceError(
            source_id,
            f"{shown} is JSON but not a JSON Feed (no jsonfeed.org version): check the URL",
            retryable=False,
        )
    raw_items = document.get("items")
    if not isinstance(raw_items, list):
        raise SourceError(
            source_id, f"{shown} is a JSON Feed without an items list", retryable=False
        )
    feed_language = language_of(document.get("language")) or language_of(language)
    if not is_url(url):  # a local file: relative links are relative to the feed's own site
        url = next(
            (
                x
                for x in (as_str(document.get(k)) for k in ("feed_url", "home_page_url"))
                if is_url(x)
            ),
            url,
        )
    problems: list[str] = []
    if len(raw_items) > max_items:
        problems.append(too_many(len(raw_items), max_items))
    items: list[FeedItem] = []
    for position, entry in enumerate(raw_items[:max_items], 1):
        if not isinstance(entry, dict):
            problems.append(f"item {position}: not a JSON object; skipped")
            continue
        summary_html = as_str(entry.get("summary"))
        content_html = as_str(entry.get("content_html"))
        content_text = as_str(entry.get("content_text"))
        summary = html_to_text(summary_html) if summary_html else ""
        if not summary_html:
            summary_html = content_html or html.escape(content_text)
            summary = html_to_text(summary_html)
        text = html_to_text(content_html) if content_html else plain(content_text)
        if text == summary:
            text = ""
        images = [(as_str(entry.get(k)), "") for k in ("image", "banner_image") if entry.get(k)]
        for attachment in entry.get("attachments") or []:
            if isinstance(attachment, dict) and as_str(attachment.get("mime_type")).startswith(
                "image/"
            ):
                images.append((as_str(attachment.get("url")), as_str(attachment.get("title"))))
        authors = entry.get("authors") or ([entry["author"]] if entry.get("author") else [])
        author = ", ".join(as_str(a.get("name")) for a in authors if isinstance(a, dict))
        date_key = as_str(entry.get("date_published") or entry.get("date_modified"))
        item = build_item(
            source_id=source_id,
            position=position,
            feed_url=url,
            guid=as_str(entry.get("id")).strip(),
            link=as_str(entry.get("url") or entry.get("external_url")).strip(),
            title=plain(as_str(entry.get("title"))),
            summary=summary,
            summary_html=summary_html,
            text=text,
            author=plain(author),
            sections=[as_str(t) for t in entry.get("tags") or []],
            language=language_of(as_str(entry.get("language"))) or feed_language,
            published=iso_to_utc(date_key),
            date_key=date_key,
            images=images,
            html_for_image=content_html or summary_html,
            problems=problems,
        )
        if item is not None:
            items.append(item)
    if not raw_items:
        problems.append("the feed has no items")
    return ParsedFeed(plain(as_str(document.get("title"))), tuple(items), tuple(problems))


# ---------------------------------------------------------------- shared


def _html_page_error(source_id: str, shown: str, body: bytes) -> SourceError:
    hint = ""
    found = _ALTERNATE_FEED.search(body[:65536].decode("utf-8", "replace"))
    if found:
        hint = f" (the page links a feed at {html.unescape(found.group(1))})"
    return SourceError(
        source_id,
        f"got an HTML page, not a feed, from {shown}: check the URL{hint}",
        retryable=False,
    )
