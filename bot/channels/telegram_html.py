"""Telegram's HTML subset: what it accepts and how long a post is once Telegram has parsed it.

Telegram measures a message after entity parsing (tags removed, entities decoded) in UTF-16
code units: 4096 for a text message, 1024 for a photo caption. A post that does not parse is
refused outright ("can't parse entities"), so the parser here is deliberately as strict as the
Bot API documentation: only the listed tags, only &lt; &gt; &amp; &quot; and numeric entities,
no bare ``<``, ``>`` or ``&``, properly nested, nothing inside ``code``/``pre`` but ``code``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from bot.channels.base import TextMeasure

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

_SIMPLE_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "code", "pre",
     "blockquote", "a", "span"}
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^<>]*?)?)\s*(/?)>")
_ATTR = re.compile(r"""([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9A-Fa-f]{1,6})|([A-Za-z][A-Za-z0-9]*));")


class TelegramHtmlError(ValueError):
    """The text is not valid Telegram HTML; the message says where and why."""


@dataclass(frozen=True)
class ParsedPost:
    """A post as Telegram sees it after parsing: its visible text."""

    text: str

    @property
    def length(self) -> int:
        """Length in UTF-16 code units, the unit of Telegram's limits."""
        return utf16_len(self.text)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (a character outside the BMP counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def escape(text: str) -> str:
    """Escape plain text for Telegram HTML (only the entities Telegram knows)."""
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def parse(markup: str) -> ParsedPost:
    """Parse Telegram HTML into its visible text, or raise ``TelegramHtmlError``."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    length = len(markup)
    while pos < length:
        ch = markup[pos]
        if ch == "<":
            match = _TAG.match(markup, pos)
            if not match:
                raise TelegramHtmlError(f"unclosed or malformed tag at character {pos}")
            closing, name, attrs, self_closing = match.groups()
            name = name.lower()
            if self_closing:
                raise TelegramHtmlError(f"self-closing tag <{name}/> at character {pos}")
            if closing:
                if not stack:
                    raise TelegramHtmlError(f"unexpected end tag </{name}> at character {pos}")
                if stack[-1] != name:
                    raise TelegramHtmlError(
                        f"end tag </{name}> at character {pos} does not close <{stack[-1]}>"
                    )
                stack.pop()
            else:
                _check_start_tag(name, attrs, stack, pos)
                stack.append(name)
            pos = match.end()
        elif ch == "&":
            match = _ENTITY.match(markup, pos)
            if not match:
                raise TelegramHtmlError(f"bare '&' or unknown entity at character {pos}")
            out.append(_decode_entity(match, pos))
            pos = match.end()
        elif ch == ">":
            raise TelegramHtmlError(f"bare '>' at character {pos}")
        else:
            nxt = _next_special(markup, pos)
            out.append(markup[pos:nxt])
            pos = nxt
    if stack:
        raise TelegramHtmlError(f"<{stack[-1]}> is never closed")
    return ParsedPost("".join(out))


def _next_special(markup: str, pos: int) -> int:
    ends = [i for i in (markup.find(c, pos) for c in "<&>") if i >= 0]
    return min(ends) if ends else len(markup)


def _check_start_tag(name: str, attrs: str, stack: list[str], pos: int) -> None:
    if name not in _SIMPLE_TAGS:
        raise TelegramHtmlError(f"unsupported tag <{name}> at character {pos}")
    values = {m[1].lower(): m[2] or m[3] or m[4] or "" for m in _ATTR.finditer(attrs)}
    if name == "span" and values.get("class") != "tg-spoiler":
        raise TelegramHtmlError(f'<span> without class="tg-spoiler" at character {pos}')
    if stack and stack[-1] in ("code", "pre") and not (stack[-1] == "pre" and name == "code"):
        raise TelegramHtmlError(f"<{name}> inside <{stack[-1]}> at character {pos}")
    if name == "blockquote" and "blockquote" in stack:
        raise TelegramHtmlError(f"nested <blockquote> at character {pos}")
    if name == "a" and "a" in stack:
        raise TelegramHtmlError(f"nested <a> at character {pos}")


def _decode_entity(match: re.Match[str], pos: int) -> str:
    decimal, hexadecimal, named = match.groups()
    if named is not None:
        if named not in _NAMED_ENTITIES:
            raise TelegramHtmlError(f"unsupported entity &{named}; at character {pos}")
        return _NAMED_ENTITIES[named]
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise TelegramHtmlError(f"invalid character reference at character {pos}")
    return chr(code)


def visible_length(markup: str) -> int:
    """UTF-16 length of ``markup`` after Telegram's parsing; raises ``TelegramHtmlError``."""
    return parse(markup).length


def measure(markup: str, *, caption: bool) -> TextMeasure:
    """The visible length of ``markup`` in UTF-16 units against its limit, and why Telegram
    would refuse it ("" when it would not)."""
    limit = CAPTION_LIMIT if caption else TEXT_LIMIT
    try:
        parsed = parse(markup)
    except TelegramHtmlError as exc:
        return TextMeasure(utf16_len(markup), limit, "UTF-16 units",
                           f"Telegram cannot parse this HTML: {exc}")
    size = parsed.length
    if not parsed.text.strip():
        return TextMeasure(size, limit, "UTF-16 units", "the post is empty")
    if size > limit:
        what = "a photo caption" if caption else "a message"
        return TextMeasure(size, limit, "UTF-16 units",
                           f"{size} characters (UTF-16 units) after Telegram parses it; "
                           f"{what} may have at most {limit}")
    return TextMeasure(size, limit, "UTF-16 units")


def fits(markup: str, *, caption: bool) -> bool:
    """True when ``markup`` parses and is within the text (or caption) limit.

    Leading and trailing whitespace is counted although Telegram trims it, so a post that
    fits here always fits there.
    """
    try:
        size = visible_length(markup)
    except TelegramHtmlError:
        return False
    return size <= (CAPTION_LIMIT if caption else TEXT_LIMIT)
