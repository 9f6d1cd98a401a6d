"""An article page in, its main text, lede and lead image out.

The lede is what followers read, so it must be the story's opening and nothing else. The page
is read three ways and the results checked against each other:

1. what the page declares (``bot.ingest.page_meta``: headline, authors, section, captions,
   JSON-LD ``articleBody`` and ``description``);
2. the page with its non-story blocks removed (``bot.ingest.prune``: captions, hover-cards,
   promos, "Related" lists, bylines) and read by trafilatura;
3. line rules (``bot.ingest.debris``) for what still gets through, including a first paragraph
   into which the extractor ran the label, headline, byline and caption (short pages).

A well-formed JSON-LD ``articleBody`` is the publisher's own statement of the story and gives
the lede when it has one; the extracted text gives it otherwise; the declared description is
the last resort.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import trafilatura
from trafilatura.utils import load_html

from bot.ingest.debris import (
    Known,
    fold,
    is_byline_or_date,
    is_debris,
    known_from,
    strip_run_on,
)
from bot.ingest.image_rules import image_refusal
from bot.ingest.page_meta import DeclaredMeta, read_declared
from bot.ingest.prune import prune_page
from bot.ingest.urls import canonical_url
from bot.text import clean_title, html_to_text

LEDE_MIN = 150  # characters: a first paragraph shorter than this takes the next one too
_LEDE_MAX_PARAGRAPHS = 3
_LEDE_MAX = 700  # characters of a lede taken from a body with no paragraph breaks
_MIN_ARTICLE = 200  # characters: less, with no sentence in it, is not an article
_MIN_BODY = 120  # characters: a shorter JSON-LD articleBody is a teaser, not the story
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
_SENTENCE_PUNCT = re.compile(r"[.!?؟。！？\"'”’»)]\s*$")
_SENTENCE = re.compile(r".+?(?:[.!?؟](?:[\"'”’»)\]]*)(?=\s|$)|[。！？]|$)", re.DOTALL)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_TITLE_CASE_SMALL = frozenset({
    "a", "an", "the", "and", "but", "or", "nor", "for", "so", "yet", "at", "by", "in", "of", "on",
    "to", "up", "as", "via", "vs", "vs.", "per", "is", "be", "from", "with", "into", "over",
})
_GLUED = re.compile(r"(?<=[a-z\u0600-\u06ff][.!?])(?=[A-Z\u0600-\u06ff])")


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

    Title: the declared headline (JSON-LD, og:title, ``<h1>``), one clean line. Text: the
    story's paragraphs from its first one on, without furniture. Lede: the story's opening
    paragraph(s), from JSON-LD ``articleBody`` when the page has a well-formed one, else from
    the extracted text, else the declared description. Image: og:image, twitter:image or the
    JSON-LD image, when it can be a picture at all (``image_rules``), as an absolute URL.
    Never raises on odd HTML: a page with nothing extractable gives empty text and lede.
    """
    tree = load_html(html) if html else None
    if tree is None:
        return ExtractedPage("", "", "", None, "", "")
    declared = read_declared(tree)
    known = known_from(declared.titles, declared.authors,
                       (*declared.sections, declared.site_name), declared.captions)
    # A live blog's summary is its opening; elsewhere the declared description is a standfirst.
    prune_page(tree, standfirst="" if declared.live else declared.description)
    document: Any = None
    try:
        document = trafilatura.bare_extraction(
            tree, url=url, include_comments=False, include_tables=False, include_images=False,
            include_links=False, with_metadata=True,
        )
    except Exception:  # trafilatura raises assorted lxml/parser errors on broken pages
        document = None
    title = declared.title or clean_title(getattr(document, "title", None) or "")
    if title and title not in known.titles:
        known = Known((title, *known.titles), known.authors, known.labels, known.captions)
    raw_text = getattr(document, "text", None) or ""
    paragraphs = story_paragraphs(raw_text.splitlines(), known)
    text = "\n\n".join(paragraphs)
    lede = lede_of(paragraphs)
    body_lede = _body_lede(declared, known)
    if body_lede and _prefer_body(body_lede, lede, declared.article_body):
        lede = body_lede
        if not text:
            text = "\n\n".join(story_paragraphs(declared.article_body.split("\n\n"), known))
    if not lede and len(text) < _MIN_ARTICLE:
        text = ""  # a few words of menu or a button label: no article here
    lede = lede or _clean(declared.description)
    image_url, image_alt = _image(declared, document, url)
    language = declared.language or (getattr(document, "language", None) or "").lower()
    return ExtractedPage(title, text, lede, image_url, image_alt, language)


def is_furniture(line: str) -> bool:
    """True for a line of page furniture ("Do you like this article?", "0 Comment(s)" …)."""
    stripped = line.strip()
    return len(stripped) <= _FURNITURE_MAX_LEN and bool(_FURNITURE.match(stripped))


def story_paragraphs(lines: list[str], known: Known) -> list[str]:
    """The story's paragraphs from ``lines``: from its first real paragraph on, no debris.

    Before the first paragraph that reads like prose, everything is furniture (label,
    headline, byline, date, caption); that paragraph itself loses what was run into its start.
    A byline or date line right under the first paragraph shows it was the standfirst, and it
    goes too. After that, debris lines are dropped and subheadings kept.
    """
    kept: list[str] = []
    for raw in lines:
        line = _clean(raw)
        if not line or is_furniture(line):
            continue
        if not kept:
            if is_debris(line, known, leading=True):
                continue
            line = strip_run_on(line, known)
            if not is_prose(line) or is_debris(line, known, leading=True):
                continue
        elif is_debris(line, known):
            if len(kept) == 1 and is_byline_or_date(line, known):
                kept = []  # a byline under the first paragraph: that was the standfirst
            continue
        kept.append(line)
    return kept


def lede_of(paragraphs: list[str]) -> str:
    """The opening: the first prose paragraph, with the next ones while it is short."""
    chosen: list[str] = []
    for paragraph in paragraphs:
        if not chosen and not is_prose(paragraph):
            continue
        if chosen and not is_prose(paragraph):
            break  # a subheading ends the opening
        chosen.append(paragraph)
        if sum(map(len, chosen)) >= LEDE_MIN or len(chosen) >= _LEDE_MAX_PARAGRAPHS:
            break
    if len(chosen) == 1 and len(chosen[0]) > 2 * _LEDE_MAX:
        return _opening_sentences(chosen[0])  # one paragraph that is the whole story
    return "\n\n".join(chosen)


def is_prose(paragraph: str) -> bool:
    """A paragraph of the story, not a heading, label, list item or run of links."""
    if paragraph.startswith(("- ", "• ", "* ")):
        return False  # trafilatura's list items: key points, a list of links
    minimum = 12 if len(_CJK.findall(paragraph)) * 2 > len(paragraph) else 40
    if len(paragraph) < minimum or _is_title_case(paragraph):
        return False
    return bool(_SENTENCE_PUNCT.search(paragraph)) or len(paragraph) >= 200


def _is_title_case(paragraph: str) -> bool:
    """A headline (this story's or another's, in a "Most read" list), not a sentence: every
    word capitalised but the short ones Title Case leaves alone. A sentence always has a
    lowercase word (its verb, at least), however many names it holds."""
    if len(paragraph) > 160:
        return False
    words = [w for w in re.findall(r"[^\W\d_][\w'’.-]*", paragraph)
             if w.lower() not in _TITLE_CASE_SMALL]
    return len(words) >= 5 and all(w[:1].isupper() for w in words)


def _body_lede(declared: DeclaredMeta, known: Known) -> str:
    body = declared.article_body.strip()
    # CJK text says in 40 characters what takes 120 in a Latin script.
    minimum = _MIN_BODY // 3 if len(_CJK.findall(body)) * 2 > len(body) else _MIN_BODY
    if len(body) < minimum or fold(body) == fold(declared.description):
        return ""
    body = _GLUED.sub(" ", body)
    parts = body.split("\n\n") if "\n\n" in body else body.split("\n")
    return lede_of(story_paragraphs(parts, known))


def _prefer_body(body_lede: str, text_lede: str, article_body: str) -> bool:
    """Whether the JSON-LD lede is the better opening.

    The same opening: the longer one wins (JSON-LD can be a teaser cut mid-paragraph).
    Different openings: the page's own lede wins only when the body holds it further on, so
    the body starts with something the page does not show first (a caption, a standfirst);
    otherwise the page's lede is what the body does not have (a standfirst, a caption).
    """
    if not text_lede:
        return True
    body, text = fold(body_lede), fold(text_lede)
    if text.startswith(body[:60]) or body.startswith(text[:60]):
        return len(body) >= len(text) or "\n\n" in body_lede
    return fold(article_body).find(text[:60]) <= 0


def _opening_sentences(text: str) -> str:
    chosen = ""
    for match in _SENTENCE.finditer(text):
        candidate = (chosen + " " + match.group(0).strip()).strip()
        if chosen and len(candidate) > _LEDE_MAX:
            break
        chosen = candidate
        if len(chosen) >= LEDE_MIN:
            break
    return chosen or text[:_LEDE_MAX]


def _image(declared: DeclaredMeta, document: Any, url: str) -> tuple[str | None, str]:
    for candidate, is_declared in ((declared.image, True),
                                   (getattr(document, "image", None) or "", False)):
        if not candidate.strip() or candidate.strip().lower().startswith("data:"):
            continue
        absolute = canonical_url(candidate.strip(), url)
        if not image_refusal(absolute, declared=is_declared):
            return absolute, declared.image_alt
    return None, ""


def _clean(value: str) -> str:
    """Plain text (trafilatura's output is text, but may carry entities or stray controls)."""
    return html_to_text(value.replace("&", "&amp;").replace("<", "&lt;")).replace("\n", " ")
