"""Plain-text and Markdown articles: a scraper's or a CMS export's file read as an article.

Scraped text keeps the page's order: a section label, the headline, the byline, a photo
caption, the story's paragraphs, and the comment widget at the end (the shape of
``tests/data/iraq-back-to-back-raids.txt``). Header lines (``Title:``, ``URL:``, ``Author:``,
``Image:``, ``Language:``) and Markdown's ``# headline``, ``![alt](src)`` and YAML front
matter are honoured when present; otherwise the headline is the longest of the short lines
before the story (a section label is shorter), and the same debris rules as for pages keep
the byline, caption and widget out of the lede.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.ingest.debris import Known, is_debris
from bot.ingest.extract import ExtractedPage, is_furniture, is_prose, lede_of, story_paragraphs
from bot.ingest.image_rules import image_refusal
from bot.text import clean_title

_HEADER = re.compile(r"^(title|headline|url|link|canonical|author|by|image|language|lang|date"
                     r"|published|section|category)\s*:\s*(.+)$", re.IGNORECASE)
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_MD_PREFIX = re.compile(r"^\s*(?:>\s*|[-*+]\s+|\d+[.)]\s+)")
_CAPTION_MARK = re.compile(r"\[(?:photo|image|picture|file\s+photo)\b[^\]]*\]|^(?:photo|image)\s*:",
                           re.IGNORECASE)
_BYLINE_NAME = re.compile(r"^(?:by|written\s+by|reporting\s+by)\s+(.+?)(?:\s+in\s+[A-Z][\w' -]+)?$",
                          re.IGNORECASE)


@dataclass(frozen=True)
class TextArticle:
    """A text file read as an article: the page it stands for, and what its header said."""

    page: ExtractedPage
    url: str  # from a URL:/Link: line, or "" (the caller decides)


def read_text_article(text: str, *, markdown: bool = False) -> TextArticle:
    """Read a plain-text (or Markdown) article. Never raises; an empty file gives empty parts."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    headers, body = _headers(text)
    blocks = _blocks(body, markdown=markdown)
    image = headers.get("image", "")
    captions: list[str] = []
    title = headers.get("title", "")
    kept: list[str] = []
    for block in blocks:
        found = _MD_IMAGE.search(block) if markdown else None
        if found:
            image = image or found.group(2)
            if found.group(1).strip():
                captions.append(found.group(1).strip())
            block = _MD_IMAGE.sub("", block).strip()
            if not block:
                continue
        heading = _MD_HEADING.match(block) if markdown else None
        if heading:
            if heading.group(1) == "#" and not title:
                title = heading.group(2)
                continue
            block = heading.group(2)
        kept.append(_plain_markdown(block) if markdown else block)
    author = headers.get("author", "")
    labels: list[str] = []
    leading = _leading(kept)
    candidates = [b for b in leading if _could_be_headline(b)]
    if not title and candidates:
        title = max(candidates, key=lambda b: (len(b.split()), len(b)))
    for block in leading:
        name = _BYLINE_NAME.match(block)
        if name:
            author = author or name.group(1)
        elif block != title and len(block.split()) <= 4:
            labels.append(block)
    section = headers.get("section", "")
    known = Known(titles=(clean_title(title),) if title else (),
                  authors=(author,) if author else (),
                  labels=tuple(x for x in (*labels, section) if x), captions=tuple(captions))
    paragraphs = story_paragraphs(kept, known)
    image_url = image.strip() if image and not image_refusal(image.strip(), declared=True) else None
    page = ExtractedPage(title=clean_title(title), text="\n\n".join(paragraphs),
                         lede=lede_of(paragraphs), image_url=image_url,
                         image_alt=captions[0] if captions else "",
                         language=headers.get("language", "").lower())
    return TextArticle(page, headers.get("url", ""))


def _headers(text: str) -> tuple[dict[str, str], str]:
    """Header lines ("URL: …") and YAML front matter at the top, and the rest of the text."""
    headers: dict[str, str] = {}
    lines = text.split("\n")
    start = 0
    if lines and lines[0].strip() == "---":
        for end in range(1, min(len(lines), 60)):
            if lines[end].strip() == "---":
                for line in lines[1:end]:
                    _header(line, headers)
                start = end + 1
                break
    while start < len(lines) and (not lines[start].strip() or _header(lines[start], headers)):
        start += 1
    # A URL: line further down (a scraper's footer) still names the article.
    for line in lines[start:]:
        match = _HEADER.match(line.strip())
        if match and match.group(1).lower() in ("url", "link", "canonical"):
            headers.setdefault("url", match.group(2).strip())
    body = "\n".join(line for line in lines[start:]
                     if not re.match(r"^\s*(?:url|link|canonical)\s*:\s*https?://", line, re.I))
    return headers, body


def _header(line: str, headers: dict[str, str]) -> bool:
    match = _HEADER.match(line.strip())
    if not match:
        return False
    key = match.group(1).lower()
    key = {"headline": "title", "link": "url", "canonical": "url", "by": "author",
           "lang": "language", "published": "date", "category": "section"}.get(key, key)
    value = match.group(2).strip().strip("\"'")
    if key == "url" and not value.startswith(("http://", "https://")):
        return False
    headers.setdefault(key, value)
    return True


def _blocks(body: str, *, markdown: bool) -> list[str]:
    """Paragraphs: runs of lines between blank lines, each joined into one line."""
    blocks: list[str] = []
    for raw in re.split(r"\n\s*\n", body):
        lines = [line.strip() for line in raw.split("\n") if line.strip()]
        if not lines:
            continue
        if markdown and all(_MD_PREFIX.match(line) for line in lines):
            blocks.extend(_MD_PREFIX.sub("", line) for line in lines)
        elif markdown and _MD_HEADING.match(lines[0]) and len(lines) > 1:
            blocks.append(lines[0])
            blocks.append(" ".join(lines[1:]))
        else:
            blocks.append(" ".join(lines))
    return blocks


def _plain_markdown(block: str) -> str:
    block = _MD_LINK.sub(r"\1", block)
    block = _MD_EMPHASIS.sub(r"\2", block)
    return _MD_PREFIX.sub("", block).strip()


def _leading(blocks: list[str]) -> list[str]:
    """The blocks before the story's first paragraph (label, headline, byline, caption)."""
    leading: list[str] = []
    for block in blocks:
        if is_prose(block) and not _is_caption(block):
            break
        if not is_furniture(block):
            leading.append(block)
    return leading


def _could_be_headline(block: str) -> bool:
    if _BYLINE_NAME.match(block) or _is_caption(block):
        return False
    return not is_debris(block, Known()) or _is_plain_label(block)


def _is_caption(block: str) -> bool:
    return bool(_CAPTION_MARK.search(block)) or (is_debris(block, Known())
                                                  and not _is_plain_label(block))


def _is_plain_label(block: str) -> bool:
    return len(block) <= 120 and not re.search(r"[.!?:\[\]()]", block)
