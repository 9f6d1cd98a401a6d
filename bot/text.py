"""Plain text from feed and page HTML, and summaries cut to a budget.

Both functions are pure and cheap: they run on every item of every poll.
"""

from __future__ import annotations

import html
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
    if "<" not in html and "&" not in html:
        return _plain_to_text(html)
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


def _plain_to_text(text: str) -> str:
    """html_to_text for text with no markup and no entities (most titles, authors and plain
    summaries), without running an HTML parser: the same paragraphs and lines (a line that
    is blank, once cleaned, ends a paragraph, as two ``<br>`` in a row do there)."""
    paragraphs: list[str] = []
    lines: list[str] = []
    for raw in _UNWANTED.sub("", text).split("\n"):
        collapsed = _SPACES.sub(" ", raw)
        line = collapsed.strip()
        if line:
            lines.append(line)
        elif collapsed in ("", " ") and lines:
            paragraphs.append("\n".join(lines))
            lines = []
    if lines:
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


# A sentence ends at . ! ? ؟ or 。, optionally followed by closing quotes or brackets, then
# whitespace or the end. 。 needs no space after it (CJK text has none).
_SENTENCE_END = re.compile(r"(?:[.!?\u061f](?:[\"'\u201d\u2019\u00bb)\]]*)(?=\s|$)|\u3002)")
_TRAILING_JUNK = " \t\n,;:\u060c\u061b-\u2013\u2014([{\"'\u201c\u2018\u00ab"


def split_sentences(text: str) -> list[str]:
    """``text`` as its sentences, each stripped (the same sentence ends ``cut_summary`` uses;
    an abbreviation such as "U.S. forces" may count as an end, which costs only a break)."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[start:match.end()].strip()
        if piece:
            pieces.append(piece)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


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


# An entity reference still present after the feed's own decoding: the publisher escaped
# twice (``&amp;amp;``, ``&amp;#34;``), and a reader must never see the reference itself.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_TITLE_SPACE = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_ZWJ, _ZWNJ = "\u200d", "\u200c"


def _is_emoji(ch: str) -> bool:
    return (
        unicodedata.category(ch) == "So"
        or ch in "\ufe0f\ufe0e\u20e3"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin tones
        or "\U0001f000" <= ch <= "\U0001faff"
    )


def _is_arabic_letter(ch: str) -> bool:
    return "\u0600" <= ch <= "\u08ff" and unicodedata.category(ch).startswith("L")


def _format_char_kept(ch: str, before: str, after: str) -> bool:
    if not before:
        return False
    if ch == _ZWJ:
        return bool(after) and _is_emoji(before) and _is_emoji(after)
    if "\U000e0020" <= ch <= "\U000e007f":
        return _is_emoji(before) or "\U000e0020" <= before <= "\U000e007f"
    if ch == _ZWNJ:
        return bool(after) and _is_arabic_letter(before) and _is_arabic_letter(after)
    return False


def clean_title(value: str) -> str:
    """A title as one clean line of plain text.

    Entity references left over from double escaping are decoded (at most three rounds, so
    ``&amp;amp;`` and ``&amp;#34;`` both end as the character); line breaks and runs of any
    whitespace become one space; control characters and invisible format characters
    (zero-width space, BOM, bidi marks and overrides, soft hyphen) are dropped, except a ZWJ
    between two emoji (👩‍💻), tag characters after an emoji (subdivision flags) and a ZWNJ
    between two Arabic-script letters (Persian spelling needs it).
    """
    if not value:
        return ""
    for _ in range(3):
        if not _ENTITY.search(value):
            break
        value = html.unescape(value)
    value = _TITLE_SPACE.sub(" ", value)
    if value.isascii() and value.isprintable():
        return value.strip()  # nothing below would drop or change a character
    kept: list[str] = []
    for index, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co") or ch in "\ue000\ue001":
            continue
        if category == "Cf":
            before = kept[-1] if kept else ""
            after = value[index + 1] if index + 1 < len(value) else ""
            if _format_char_kept(ch, before, after):
                kept.append(ch)
            continue
        kept.append(ch)
    return _TITLE_SPACE.sub(" ", "".join(kept)).strip()
