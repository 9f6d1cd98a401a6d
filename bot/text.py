"""Plain text from feed and page HTML, and summaries cut to a budget.

Both functions are pure and cheap: they run on every item of every poll.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

_PARA = "\ue000"  # sentinels from the private-use area; stripped from the input first
_LINE = "\ue001"

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})

# C0/C1 controls except tab and newline, plus the bidi embedding/override/isolate controls
# (U+202A–U+202E, U+2066–U+2069) that can reorder what a reader sees around them.
_UNWANTED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ue000\ue001]")
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u2007\u202f]+")
_LOOKS_LIKE_HTML = re.compile(r"<[A-Za-z/!]")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag == "br":
            self.parts.append(_LINE)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_PARA)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append(_LINE)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_PARA)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_PARA)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(_UNWANTED.sub("", data.replace("\ue000", "").replace("\ue001", "")))


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML fragment (or of plain text).

    Tags are dropped, entities decoded (``&nbsp;`` becomes a space, ``&amp;`` an ``&``),
    whitespace collapsed, block elements and double line breaks become paragraph breaks
    (``"\\n\\n"``), a single ``<br>`` a newline. Control characters and bidi override/isolate
    characters are removed. Script and style contents never appear.
    """
    if not html:
        return ""
    if not _LOOKS_LIKE_HTML.search(html):
        # Plain text (or only entities): blank lines are the author's paragraph breaks.
        html = re.sub(r"\r?\n[ \t]*\r?\n\s*", "<p>", html).replace("\n", "<br>")
    collector = _Collector()
    collector.feed(html)
    collector.close()
    raw = "".join(collector.parts)
    raw = _SPACES.sub(" ", raw)
    raw = re.sub(f"{_LINE}(?: ?{_LINE})+", _PARA, raw)
    paragraphs: list[str] = []
    for block in raw.split(_PARA):
        lines = [line.strip() for line in block.split(_LINE)]
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


# A sentence ends at . ! ? ؟ or 。, optionally followed by closing quotes or brackets, then
# whitespace or the end. 。 needs no space after it (CJK text has none).
_SENTENCE_END = re.compile(r"(?:[.!?\u061f](?:[\"'\u201d\u2019\u00bb)\]]*)(?=\s|$)|\u3002)")
_TRAILING_JUNK = " \t\n,;:\u060c\u061b-\u2013\u2014([{\"'\u201c\u2018\u00ab"


def is_joiner(ch: str) -> bool:
    """True for a character that must stay attached to the one before it."""
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch in "\u200d\ufe0e\ufe0f"
        or "\udc00" <= ch <= "\udfff"  # a lone low surrogate
        or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin-tone modifiers
        or "\U000e0020" <= ch <= "\U000e007f"  # emoji tag sequences
    )


def safe_cut(text: str, index: int) -> int:
    """Move ``index`` back until cutting there splits no combining or joined sequence."""
    while 0 < index < len(text) and (is_joiner(text[index]) or text[index - 1] == "\u200d"):
        index -= 1
    return index


def cut_summary(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Return ``text`` shortened to at most ``limit`` characters.

    Unchanged when it fits. Otherwise cut after the last sentence end within the limit when
    that keeps at least 40% of the limit; else at the last word boundary with ``ellipsis``
    appended (the result, ellipsis included, is never longer than ``limit``). A cut never
    splits a combining sequence, an emoji sequence or a surrogate pair. ``limit <= 0`` gives
    ``""``.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    best = -1
    for match in _SENTENCE_END.finditer(text, 0, limit + 1):
        if match.end() <= limit:
            best = match.end()
    if best >= 0.4 * limit:
        return text[:best].rstrip()

    budget = limit - len(ellipsis)
    if budget <= 0:
        return ellipsis[:limit] if len(ellipsis) <= limit else ""
    window = text[: budget + 1]
    space = max(window.rfind(c) for c in (" ", "\n", "\t", "\u00a0"))
    cut = space if space > 0 else safe_cut(text, budget)
    head = text[:cut].rstrip(_TRAILING_JUNK)
    if not head:
        head = text[: safe_cut(text, budget)]
    return head + ellipsis
