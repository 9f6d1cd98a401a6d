"""Telegram's HTML parse mode and its length counting, as the Bot API applies them.

``parse_html`` turns ``parse_mode=HTML`` markup into the visible text Telegram would show, or
raises ``EntityError`` with Telegram's "can't parse entities" explanation (unknown tags, bare
``<`` ``>`` ``&``, unknown named entities, bad nesting). ``utf16_units`` is how Telegram
measures that text against its limits (4096 for a message, 1024 for a caption).

Pure functions, no server: the fake Bot API (``telegram_api``) applies them to each send.
Like the server, this deliberately does not import newsbot.
"""

from __future__ import annotations

import re

# The tags Telegram's HTML parse mode accepts (span only as <span class="tg-spoiler">).
TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "code", "pre", "blockquote"}
# Limits on the visible text (after parsing and stripping), in UTF-16 code units.
TEXT_LIMIT = 4096  # sendMessage text
CAPTION_LIMIT = 1024  # sendPhoto caption


class EntityError(Exception):
    """Telegram's "can't parse entities" with its explanation."""


def parse_html(markup: str) -> str:
    """Telegram's HTML parse mode: the visible text, or ``EntityError``.

    An independent implementation of the Bot API rules (byte offsets like Telegram's own
    messages), so tests of newsbot's own length logic check it against something else.
    """
    out: list[str] = []
    stack: list[str] = []
    i = 0

    def offset(k: int) -> int:
        return len(markup[:k].encode("utf-8"))

    while i < len(markup):
        c = markup[i]
        if c == "<":
            end = markup.find(">", i)
            if end < 0 or "<" in markup[i + 1:end]:
                raise EntityError(f"Unclosed start tag at byte offset {offset(i)}")
            inner = markup[i + 1:end]
            if not re.match(r"/?[A-Za-z]", inner):
                raise EntityError(f'Unsupported start tag "" at byte offset {offset(i)}')
            if inner.startswith("/"):
                name = inner[1:].rstrip().lower()
                if not stack:
                    raise EntityError(f"Unexpected end tag at byte offset {offset(i)}")
                if stack[-1] != name:
                    raise EntityError(
                        f'Unmatched end tag at byte offset {offset(i)}, expected "</{stack[-1]}>"'
                        f', found "</{name}>"')
                stack.pop()
            else:
                parts = inner.split(None, 1)
                name = parts[0].lower() if parts else ""
                attrs = parts[1] if len(parts) > 1 else ""
                if name not in TAGS or not re.fullmatch(r"[a-z-]+", name):
                    raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset(i)}')
                if name == "span" and not re.search(r"""class\s*=\s*["']?tg-spoiler\b""", attrs):
                    raise EntityError(f'Unsupported start tag "span" at byte offset {offset(i)}')
                if stack and stack[-1] in ("pre", "code") and (stack[-1], name) != ("pre", "code"):
                    raise EntityError(f"Can't nest <{name}> in <{stack[-1]}> at byte offset "
                                      f"{offset(i)}")
                if name in ("blockquote", "a") and name in stack:
                    raise EntityError(f"Can't nest <{name}> at byte offset {offset(i)}")
                stack.append(name)
            i = end + 1
        elif c == "&":
            m = re.match(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);", markup[i:])
            if not m:
                raise EntityError(f"Unescaped '&' at byte offset {offset(i)}")
            ref = m.group(1)
            if ref.startswith("#"):
                code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
                if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise EntityError(f"Invalid character reference at byte offset {offset(i)}")
                out.append(chr(code))
            else:
                known = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
                if ref not in known:
                    raise EntityError(f'Unsupported HTML entity "&{ref};" at byte offset '
                                      f"{offset(i)}")
                out.append(known[ref])
            i += m.end()
        elif c == ">":
            raise EntityError(f"Unexpected '>' at byte offset {offset(i)}")
        else:
            out.append(c)
            i += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_units(text: str) -> int:
    """The length Telegram's limits count: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2
