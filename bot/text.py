"""Plain text from feed and page HTML, and summaries cut to a budget.

Both functions are pure and cheap: they run on every item of every poll.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html import unescape
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
# The runs _SPACES.sub(" ", …) would change: all but a lone " ", which it only rewrites as
# itself (prose is mostly lone spaces, and a substitution per word is most of the cost).
_SPACE_RUNS = re.compile(r" [ \t\r\n\f\v\u00a0\u2007\u202f]+"
                         r"|[\t\r\n\f\v\u00a0\u2007\u202f][ \t\r\n\f\v\u00a0\u2007\u202f]*")
_LOOKS_LIKE_HTML = re.compile(r"<[A-Za-z/!]")
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n\s*")
_LINE_RUN = re.compile(f"{_LINE}(?: ?{_LINE})+")


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
        return plain_to_text(html)
    if html.startswith("<p>") and html.endswith("</p>"):
        # One paragraph of printable text, no tag or entity inside (a common feed summary):
        # its text is the paragraph, collapsed (_layout of _PARA + inner + _PARA).
        inner = html[3:-4]
        if "<" not in inner and "&" not in inner and inner.isprintable():
            return _collapsed_printable(inner)
    if not _LOOKS_LIKE_HTML.search(html):
        # Plain text (or only entities): blank lines are the author's paragraph breaks.
        html = _BLANK_LINE.sub("<p>", html).replace("\n", "<br>")
    raw = _simple_markup(html)
    return _layout(_parsed_markup(html) if raw is None else raw)


def _parsed_markup(html: str) -> str:
    """The text of ``html`` with ``_PARA``/``_LINE`` where blocks and breaks were, read by the
    standard library's HTML parser: the reference for every fast path in this module."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return "".join(collector.parts)


# A start or end tag in its simplest spelling: a name of ASCII letters, digits and "-.:_",
# attributes each after whitespace, with a quoted value or an unquoted one without quotes,
# "=", "<", ">", "`" or "/"; an end tag without attributes; or a comment without "--" or
# ">" inside (WordPress marks every block with one). For these every HTMLParser (3.11 and
# the HTML5 tokenizer of later releases) finds the same boundaries and tag names, and the
# text between two of them reaches handle_data unescaped with html.unescape, in one piece
# or split only at "&" (which no entity spans). Anything else ("<!" and "<?" declarations,
# a stray "<", script and the other raw-text elements) goes to the parser itself.
_WS = "[ \t\n\r\f]"
_TAG_NAME = "[A-Za-z][-.A-Za-z0-9:_]*"
_ATTRIBUTE = (f"{_WS}+[A-Za-z_:][-A-Za-z0-9_:.]*"
              f"(?:{_WS}*={_WS}*(?:\"[^\"]*\"|'[^']*'|[^ \t\n\r\f\"'=<>`/]+))?")
_SIMPLE_TAG = re.compile(f"<(?:/({_TAG_NAME}){_WS}*|({_TAG_NAME})(?:{_ATTRIBUTE})*{_WS}*/?"
                         "|!--(?:[^->]|-(?=[^->]))*--)>")
# Elements whose content some Python release reads as raw text, or that text skips: left to
# the parser, unless the element is empty (its end tag right after its start tag, as in
# "<iframe …></iframe>"), which every reading makes nothing of. "</br>" too (HTML5 reads
# it as <br>, older parsers as nothing).
_PARSER_ONLY = _SKIP_TAGS | {"textarea", "xmp", "iframe", "noembed", "noframes", "plaintext"}


def _simple_markup(html: str) -> str | None:
    """``_parsed_markup(html)`` without the parser, or None when ``html`` has markup the
    simple reading above does not cover (then only the parser may read it)."""
    pieces = _SIMPLE_TAG.split(html)  # text, (end tag name, start tag name, text)...
    joined = "".join(pieces[::3])
    if "<" in joined:
        return None
    # Printable text holds nothing _UNWANTED matches (controls, format and private-use
    # characters are not printable); only a piece with an entity may gain such a character.
    dirty = not joined.isprintable() and _UNWANTED.search(joined) is not None
    parts: list[str] = []
    index, last = 0, len(pieces) - 1
    while True:
        text = pieces[index]
        if "&" in text:
            parts.append(_UNWANTED.sub("", unescape(text)))
        elif dirty:
            parts.append(_UNWANTED.sub("", text))
        elif text:
            parts.append(text)
        if index == last:
            return "".join(parts)
        end, start = pieces[index + 1], pieces[index + 2]
        index += 3
        if start is None and end is None:
            continue  # a comment
        name = (start or end).lower()
        if name in _BLOCK_TAGS:
            parts.append(_PARA)
        elif name == "br":
            if end:
                return None
            parts.append(_LINE)
        elif name in _PARSER_ONLY:
            if (end or index == last or pieces[index] or name == "plaintext"  # never ends
                    or (pieces[index + 1] or "").lower() != name):
                return None
            index += 3  # an empty element: nothing inside to read or to skip


def _collapsed_printable(text: str) -> str:
    """``_SPACES.sub(" ", text).strip()`` for a printable ``text``: printable text has no
    whitespace but " " (every other kind is a separator or a control, which str.isprintable
    refuses), so there is nothing to collapse unless two spaces meet."""
    return text.strip() if "  " not in text else " ".join(text.split())


def _layout(raw: str) -> str:
    """Paragraphs and lines from the collected text: whitespace collapsed, a run of breaks a
    paragraph break, empty lines and paragraphs dropped."""
    if _LINE in raw:
        # Spaces first: a run of breaks may have a space between them.
        raw = _LINE_RUN.sub(_PARA, _SPACE_RUNS.sub(" ", raw))
    kept = []
    for block in raw.split(_PARA):
        if not block:
            continue
        if _LINE in block:
            text = "\n".join([line for line in map(str.strip, block.split(_LINE)) if line])
        elif block.isprintable():
            text = _collapsed_printable(block)
        else:
            text = _SPACE_RUNS.sub(" ", block).strip()
        if text:
            kept.append(text)
    return "\n\n".join(kept)


def plain_to_text(text: str) -> str:
    """What ``html_to_text`` makes of ``text`` read as text, not markup: the same as
    ``html_to_text(html.escape(text, quote=False))``, without an HTML parser (for text with
    no "<" and no "&", the same as ``html_to_text(text)``). The same paragraphs and lines: a
    line that is blank, once cleaned, ends a paragraph, as two ``<br>`` in a row do there.
    tests/test_text_fast_paths.py holds the two equal."""
    if text.isprintable():
        # One line (a newline is not printable) with nothing _UNWANTED drops (controls,
        # format and private-use characters are not printable either): collapsing and
        # stripping it is all there is to do (most titles).
        return _collapsed_printable(text)
    if "\n" not in text:
        return _SPACE_RUNS.sub(" ", _UNWANTED.sub("", text)).strip()
    paragraphs: list[str] = []
    lines: list[str] = []
    for raw in _UNWANTED.sub("", text).split("\n"):
        collapsed = _SPACE_RUNS.sub(" ", raw)
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
    if "&" not in value and value.isprintable():
        # No entity; no control, format, private-use or surrogate character to drop (none
        # is printable); " " the only whitespace: what the steps below come to (most titles).
        return _collapsed_printable(value)
    return _cleaned_title(value)


def _cleaned_title(value: str) -> str:
    """``clean_title`` step by step, for any string."""
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
