"""One article from one file: HTML, plain text or Markdown, judged before it is read.

Used by ``newsbot preview FILE`` and by folder sources (``bot.ingest.folder``). A file that is
not an article (empty, binary, unreadable as text) raises ``NotAnArticle`` with the reason,
for the caller to report against the file's name.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.ingest.extract import extract_page
from bot.ingest.plaintext import TextArticle, read_text_article

ARTICLE_SUFFIXES = (".html", ".htm", ".txt", ".md", ".markdown")
_HTML_SNIFF = re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body|<article|<meta|<!--)",
                         re.IGNORECASE)
_CANONICAL = re.compile(
    r"""<link\b[^>]*\brel\s*=\s*["']?canonical["']?[^>]*>|<meta\b[^>]*\bproperty\s*=\s*["']og:url["'][^>]*>""",
    re.IGNORECASE)
_HREF = re.compile(r"""\b(?:href|content)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


class NotAnArticle(ValueError):
    """The file cannot be an article; the message says why (without the file's name)."""


def check_article_bytes(body: bytes) -> None:
    """Raise ``NotAnArticle`` when ``body`` (or its first 8 KiB) is empty or binary."""
    if not body.strip():
        raise NotAnArticle("the file is empty")
    head = body[:8192]
    if b"\x00" in head or _control_share(head) > 0.05:
        raise NotAnArticle("the file is binary, not text")


def read_article_file(body: bytes, name: str, *, base_url: str = "") -> TextArticle:
    """Read the article in ``body`` (the bytes of the file called ``name``).

    HTML (by suffix, or by its first bytes) goes through the page extractor and its URL comes
    from ``<link rel=canonical>`` or ``og:url``; text and Markdown through
    ``bot.ingest.plaintext`` with the URL from a ``URL:`` line. ``url`` is "" when the file
    names none (``base_url`` then resolves the page's relative links). Raises
    ``NotAnArticle`` for an empty or binary file, or one with neither a headline nor text.
    """
    check_article_bytes(body)
    head = body[:8192]
    lower = name.lower()
    if lower.endswith((".html", ".htm")) or _HTML_SNIFF.match(head):
        found = _CANONICAL.search(body[:200_000].decode("utf-8", "replace"))
        href = _HREF.search(found.group(0)) if found else None
        url = href.group(1).strip() if href and href.group(1).startswith("http") else ""
        page = extract_page(body, url or base_url or "https://localhost/")
        article = TextArticle(page, url)
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("cp1252", "replace")
        article = read_text_article(text, markdown=lower.endswith((".md", ".markdown")))
    if not article.page.title and not article.page.lede:
        raise NotAnArticle("no headline and no text found in it")
    if not article.page.title:
        first = article.page.lede.split("\n", 1)[0]
        article = TextArticle(replace(article.page, title=first[:90]), article.url)
    return article


def _control_share(head: bytes) -> float:
    text = head.decode("utf-8", "replace")
    bad = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\n\r\f"))
    return bad / max(1, len(text))
