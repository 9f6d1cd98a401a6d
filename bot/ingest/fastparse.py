"""The fast path for RSS and Atom: fastfeedparser (lxml and a native extractor) in front of
feedparser, which is about 90× slower on typical feeds.

``read_fast`` either returns the feed's title and items, built by the same rules as the
feedparser path (``items.build_item``), or raises ``FastParseRejected`` with the reason, and
the caller parses the whole feed with feedparser instead. The checks are judged on what
fastfeedparser returned, not on a list of sites: no entries where the XML has items, an
entry without link and id, a date it could not read, or a detail its result cannot show
(which entries carry a guid or a description of their own, an Atom title's type) that the
bytes leave ambiguous. tests/test_feed_golden.py holds both paths to the same ``FeedItem``s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.parsers import expat

import fastfeedparser
from fastfeedparser import main as _ffp

from bot.ingest.feedlinks import absolute_links
from bot.ingest.items import build_item, iso_to_utc, language_of, plain
from bot.models import FeedItem
from bot.text import html_to_text


class FastParseRejected(Exception):
    """fastfeedparser could not be trusted with this feed; the reason says why."""


_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_DATE_TAG = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:pubDate|date|published|updated|issued|modified|created)[\s>]"
)
_GUID_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:guid|id)[\s>]")
_ATOM_HTML_TITLE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?title\b[^>]*\btype\s*=\s*[\"']html")
_XHTML_TITLE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?title\b[^>]*\btype\s*=\s*[\"']xhtml")
_CHANNEL_LANGUAGE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?language\s*>\s*([^<]*?)\s*</", re.I)
_XHTML_WRAPPER = re.compile(r"^\s*<content\b[^>]*>\s*(.*?)\s*</content>\s*$", re.S)
_DIV_WRAPPER = re.compile(r"^<div\b[^>]*>(.*)</div>$", re.S)
# feedparser guesses that an RSS title is HTML when it has a closing tag or an entity
# (feedparser.mixin._looks_like_html): the fast path makes the same guess.
_LOOKS_LIKE_HTML = re.compile(r"</\w+>|&#?\w+;")


def read_fast(
    source_id: str,
    body: bytes,
    *,
    url: str,
    language: str,
    expected_items: int,
    problems: list[str],
) -> tuple[str, str, list[FeedItem]]:
    """Parse an RSS or Atom document with fastfeedparser: (feed title, base URL, items).

    ``expected_items`` is how many item/entry elements the bytes hold (after the item cap).
    Per-item problems are appended to ``problems`` only when the result is accepted.
    Raises ``FastParseRejected`` when feedparser should read the whole feed instead.
    """
    if b"xml:base" in body:
        raise FastParseRejected("xml:base (only feedparser resolves links against it)")
    if b"<!ENTITY" in body:
        raise FastParseRejected("the DOCTYPE declares entities")
    _require_well_formed(body)
    try:
        parsed = fastfeedparser.parse(body)
    except Exception as exc:  # any failure of the fast parser: feedparser gets its turn
        raise FastParseRejected(f"fastfeedparser: {type(exc).__name__}: {exc}") from None
    entries: list[Mapping[str, Any]] = parsed.get("entries") or []
    if len(entries) != expected_items:
        raise FastParseRejected(
            f"fastfeedparser read {len(entries)} entries where the XML has {expected_items}")
    first = _ITEM_START.search(body)
    in_items = body[first.start():] if first else b""
    if b"xml:lang" in in_items:
        raise FastParseRejected("entries declare their own xml:lang")
    if b"xhtml" in in_items and _XHTML_TITLE.search(in_items):
        raise FastParseRejected("an XHTML title (fastfeedparser misreads it)")
    if b"email" in in_items and (b"<email" in in_items or b":email" in in_items):
        raise FastParseRejected("authors with an email (feedparser writes 'name (email)')")
    has_encoded = b"encoded" in in_items
    feed_meta: Mapping[str, Any] = parsed.get("feed") or {}
    is_atom = b"http://www.w3.org/2005/Atom" in body[:first.start() if first else 4096] and (
        b"<entry" in in_items[:64] or b":entry" in in_items[:64])
    ids = _guid_presence(entries, in_items)
    bare = _description_presence(body, entries)
    html_titles = _atom_title_is_html(in_items, len(entries)) if is_atom else None

    base = url
    if not url.startswith(("http://", "https://")):  # a local file: the feed names its site
        link = feed_meta.get("link") or ""
        base = link if link.startswith(("http://", "https://")) else url
    declared = _CHANNEL_LANGUAGE.search(body, 0, first.start() if first else len(body))
    feed_language = (language_of(feed_meta.get("language"))
                     or language_of(declared.group(1).decode("utf-8", "replace") if declared
                                    else "")
                     or language_of(language))
    found: list[str] = []
    items: list[FeedItem] = []
    dates_in_items = _DATE_TAG.search(in_items) is not None
    for position, entry in enumerate(entries, 1):
        link = (entry.get("link") or "").strip()
        guid = (entry.get("id") or "").strip() if ids[position - 1] else ""
        if not link:
            raise FastParseRejected(f"entry {position} has no link")
        if has_encoded and not entry.get("content"):
            raise FastParseRejected(f"entry {position}: content:encoded was not read")
        date_value = entry.get("published") or entry.get("updated") or ""
        published = iso_to_utc(date_value) if date_value else None
        if published is not None and published.microsecond:
            published = published.replace(microsecond=0)  # as feedparser's time tuples
        if published is None and dates_in_items:
            raise FastParseRejected(f"entry {position}: a date fastfeedparser could not read")
        raw_title = entry.get("title") or ""
        if html_titles is None:
            looks_like_html = ("<" in raw_title or "&" in raw_title) and (
                _LOOKS_LIKE_HTML.search(raw_title) is not None)
            title = html_to_text(raw_title) if looks_like_html else plain(raw_title)
        else:
            title = html_to_text(raw_title) if html_titles else plain(raw_title)
        content_html = _content_html(entry)
        summary_html = "" if position - 1 in bare else (entry.get("description") or "")
        if not summary_html:
            summary_html, content_html = content_html, ""
        elif content_html == summary_html or content_html.strip() == summary_html.strip():
            content_html = ""  # RSS without content: fastfeedparser repeats the description
        summary_html = absolute_links(summary_html, base)
        if content_html:
            content_html = absolute_links(content_html, base)
        summary = html_to_text(summary_html)
        text = html_to_text(content_html) if content_html and content_html != summary_html else ""
        item = build_item(
            source_id=source_id,
            position=position,
            feed_url=base,
            guid=guid,
            link=link,
            title=title,
            summary=summary,
            summary_html=summary_html,
            text=text,
            author=plain(author) if (author := entry.get("author")) else "",
            sections=[t.get("term") or t.get("label") or "" for t in entry.get("tags") or []],
            language=feed_language,
            published=published,
            date_key=date_value,
            images=_images(entry),
            html_for_image=content_html or summary_html,
            problems=found,
        )
        if item is not None:
            items.append(item)
    problems.extend(found)
    return plain(feed_meta.get("title") or ""), base, items


def _require_well_formed(body: bytes) -> None:
    """fastfeedparser repairs broken XML its own way; feedparser's loose parser decides what
    a broken feed says, and names the breakage as a problem. expat reads ~100 MB/s."""
    parser = expat.ParserCreate()
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise FastParseRejected(f"not well-formed XML ({exc})") from None


def _guid_presence(entries: list[Mapping[str, Any]], in_items: bytes) -> list[bool]:
    """Which entries carry an id of their own: fastfeedparser puts the link in ``id`` when
    there is none, and a guid that equals the link looks the same in its result."""
    copied = [bool(e.get("id")) and e.get("id") == e.get("link") for e in entries]
    if not any(copied):
        return [bool(e.get("id")) for e in entries]
    tags = len(_GUID_TAG.findall(in_items))
    if tags == 0:
        return [not c and bool(e.get("id")) for e, c in zip(entries, copied, strict=True)]
    if tags >= len(entries):
        return [bool(e.get("id")) for e in entries]
    raise FastParseRejected("some entries have a guid equal to their link and some none")


def _description_presence(body: bytes, entries: list[Mapping[str, Any]]) -> set[int]:
    """Indexes of entries whose ``description`` fastfeedparser made up from their content.

    When an entry has content but no summary, fastfeedparser writes the start of the
    content, as text, into ``description``; feedparser leaves the summary empty. The two
    look alike only when the description equals that synthesised text: then a second, cheap
    parse without content says which entries had one.
    """
    # Where the description is the content itself (RSS without content:encoded), either
    # reading gives the same item: no need to tell them apart.
    suspects = [i for i, e in enumerate(entries) if e.get("content") and e.get("description")
                and e["description"] != (e["content"][0].get("value") or "").strip()
                and e["description"] == _synthesised(e)]
    if not suspects:
        return set()
    lean = fastfeedparser.parse(body, include_content=False).get("entries") or []
    if len(lean) != len(entries):
        raise FastParseRejected("a second parse without content read other entries")
    return {i for i in suspects if not lean[i].get("description")}


def _synthesised(entry: Mapping[str, Any]) -> str:
    probe = _ffp.FastFeedParserDict(content=entry["content"])
    _ffp._synthesize_entry_description(probe)
    return str(probe.get("description") or "")


def _atom_title_is_html(in_items: bytes, count: int) -> bool:
    typed = len(_ATOM_HTML_TITLE.findall(in_items))
    if typed == 0:
        return False
    if typed == count:
        return True
    raise FastParseRejected("Atom entry titles of mixed types (text and html)")


def _content_html(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content") or []
    best = ""
    for content in contents:
        value = content.get("value") or ""
        kind = content.get("type") or ""
        if kind in ("xhtml", "application/xhtml+xml"):
            wrapped = _XHTML_WRAPPER.match(value)
            value = wrapped.group(1) if wrapped else value
            div = _DIV_WRAPPER.match(value)
            value = div.group(1) if div else value
        if len(value) > len(best):
            best = value
    return best


def _images(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for media in entry.get("media_content") or []:
        medium = (media.get("medium") or "").lower()
        mime = (media.get("type") or "").lower()
        is_image = medium == "image" or mime.startswith("image/") or not (medium or mime)
        if media.get("url") and is_image:
            found.append((media["url"], plain(media.get("description") or "")))
        if media.get("thumbnail_url"):
            found.append((media["thumbnail_url"], ""))
    for enclosure in entry.get("enclosures") or []:
        if (enclosure.get("type") or "").startswith("image/") and enclosure.get("url"):
            found.append((enclosure["url"], ""))
    for link in entry.get("links") or []:
        if (link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/")
                and link.get("href")):
            found.append((link["href"], ""))
    return found


def fast_date(value: str) -> str | None:
    """An ISO 8601 UTC string for a feed's date, read as fastfeedparser reads it."""
    try:
        found: str | None = _ffp._parse_date(value)
    except Exception:  # a date is never worth failing a feed over
        return None
    return found
