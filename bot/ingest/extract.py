"""An article page in, its main text, lede and lead image out (trafilatura plus og:image).

Page furniture (rating widgets, comment counters and policies, share bars, copyright lines)
must never reach a post, so a small line filter runs after trafilatura for whatever it lets
through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import trafilatura
from trafilatura.utils import load_html

from bot.ingest.urls import canonical_url
from bot.text import html_to_text

_LEDE_MIN = 150  # characters: a first paragraph shorter than this takes the next one too
_LEDE_MAX_PARAGRAPHS = 3
_MIN_ARTICLE = 200  # characters: less, with no sentence in it, is not an article
_FURNITURE_MAX_LEN = 160  # furniture lines are short; a long paragraph is never dropped

_FURNITURE = re.compile(
    r"""^(?:
        (?:did\s+)?(?:do\s+)?you\s+(?:like|enjoy(?:ed)?)\s+this\s+(?:article|story|post)\W*
      | (?:was\s+)?this\s+(?:article|story|page)\s+(?:was\s+)?helpful\W*
      | \d[\d,.]*\s*comments?(?:\(s\))?\W*
      | comments?(?:\(s\))?\s*\(?\d*\)?\W*
      | (?:no|add\s+a|leave\s+a|post\s+a|write\s+a)\s+comments?\W*
      | .{0,40}comment\s+policy.*
      | .*denotes\s+(?:a\s+)?required\s+field.*
      | \d+\s*/\s*\d+
      | (?:©|\(c\)|copyright\b).*
      | .{0,80}all\s+rights\s+reserved\W*
      | (?:share|share\s+this(?:\s+article|\s+story)?|share\s+on\s+\w+|tweet|email|print)\W*
      | (?:follow\s+us|subscribe|sign\s+up)(?:\s+(?:on|to|for)\b.{0,50})?\W*
      | (?:newsletter|related(?:\s+(?:articles|stories|news|coverage))?|read\s+more|more\s+from
         |advertisement|sponsored|tags?|topics?)(?:\s*:.{0,100})?\W*
      | (?:yes|no)\W*
      | (?:previous|next)\s+(?:article|story|post)\W*.{0,100}
      | هل\s+أعجبك\s+هذا\s+(?:المقال|الخبر|الموضوع)\W*
      | \d*\s*تعليق(?:ات)?\W*|(?:اترك|أضف)\s+تعليقا?ً?\W*|.{0,40}سياسة\s+التعليقات.*
      | .{0,80}جميع\s+الحقوق\s+محفوظة\W*|(?:شارك|مشاركة)(?:\s+(?:المقال|الخبر|على)\b.{0,30})?\W*
      | (?:skip\s+to\s+(?:main\s+)?content|back\s+to\s+top|cookie\s+settings?|accept\s+cookies?)\W*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_CAPTION = re.compile(
    r"\[(?:photo|image|picture|file\s+photo|video)\b[^\]]*\]\s*$|^(?:photo|image)\s*:", re.I
)
_BYLINE = re.compile(r"^(?:by|written\s+by|reporting\s+by)\s+\S", re.IGNORECASE)
_SENTENCE_PUNCT = re.compile(r"[.!?؟。\"'”’»)]\s*$")


@dataclass(frozen=True)
class ExtractedPage:
    """The readable part of an article page."""

    title: str
    text: str  # paragraphs separated by "\n\n"; no page furniture
    lede: str  # the first real paragraph(s) of the article
    image_url: str | None
    image_alt: str
    language: str


def extract_page(html: str | bytes, url: str) -> ExtractedPage:
    """Extract the article in ``html`` (fetched from ``url``).

    The text is trafilatura's main content without comments or tables, with the page's own
    title line and any furniture lines removed. The lede is the first paragraph that reads
    like prose (not a heading, byline or photo caption), joined with the next one or two
    when it is short. The image is og:image, else twitter:image, else the first image
    trafilatura found, resolved to an absolute URL. Never raises on odd HTML: a page with
    nothing extractable gives empty text and lede (the meta description stands in for the
    lede when there is one).
    """
    tree = load_html(html) if html else None
    if tree is None:
        return ExtractedPage("", "", "", None, "", "")
    meta = _meta(tree)
    language = (tree.get("lang") or meta.get("og:locale", "")).strip().replace("_", "-").lower()
    document: Any = None
    try:
        document = trafilatura.bare_extraction(
            tree,
            url=url,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            with_metadata=True,
        )
    except Exception:  # trafilatura raises assorted lxml/parser errors on broken pages
        document = None
    title = _clean(getattr(document, "title", None) or meta.get("og:title") or "")
    raw_text = getattr(document, "text", None) or ""
    paragraphs = _paragraphs(raw_text, title)
    lede = _lede(paragraphs)
    text = "\n\n".join(paragraphs)
    if not lede and len(text) < _MIN_ARTICLE:
        text = ""  # a few words of menu or a button label: no article here
    lede = lede or _clean(meta.get("og:description") or meta.get("description") or "")
    image = meta.get("og:image") or meta.get("og:image:url") or meta.get("twitter:image")
    image = image or getattr(document, "image", None) or ""
    alt = meta.get("og:image:alt") or meta.get("twitter:image:alt") or ""
    image_url = canonical_url(image, url) if image.strip() else None
    if not language:
        language = (getattr(document, "language", None) or "").lower()
    return ExtractedPage(title, text, lede, image_url, _clean(alt), language)


def is_furniture(line: str) -> bool:
    """True for a line of page furniture ("Do you like this article?", "0 Comment(s)" …)."""
    stripped = line.strip()
    return len(stripped) <= _FURNITURE_MAX_LEN and bool(_FURNITURE.match(stripped))


def _paragraphs(raw_text: str, title: str) -> list[str]:
    kept: list[str] = []
    for line in raw_text.splitlines():
        line = _clean(line)
        if not line or is_furniture(line):
            continue
        if not kept and title and line.casefold() == title.casefold():
            continue  # the headline, repeated as the first line of the body
        kept.append(line)
    return kept


def _lede(paragraphs: list[str]) -> str:
    chosen: list[str] = []
    for paragraph in paragraphs:
        if not chosen and not _is_prose(paragraph):
            continue
        if chosen and not _is_prose(paragraph):
            break  # a subheading ends the opening
        chosen.append(paragraph)
        if sum(map(len, chosen)) >= _LEDE_MIN or len(chosen) >= _LEDE_MAX_PARAGRAPHS:
            break
    return "\n\n".join(chosen)


def _is_prose(paragraph: str) -> bool:
    """A paragraph of the story, not a heading, byline, dateline or photo caption."""
    if _CAPTION.search(paragraph) or _BYLINE.match(paragraph):
        return False
    return len(paragraph) >= 40 and bool(_SENTENCE_PUNCT.search(paragraph))


def _meta(tree: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        value = element.get("content")
        if key and value and key not in found:
            found[key] = value.strip()
    return found


def _clean(value: str) -> str:
    """Plain text (trafilatura's output is text, but may carry entities or stray controls)."""
    return html_to_text(value.replace("&", "&amp;").replace("<", "&lt;")).replace("\n", " ")
