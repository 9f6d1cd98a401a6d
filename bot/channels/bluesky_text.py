"""Bluesky's length rules for a post's text: at most 300 graphemes and 3000 bytes of UTF-8.

A grapheme is what a reader sees as one character (Unicode's extended grapheme cluster, as
Bluesky's own apps count with ``Intl.Segmenter``): an emoji built of several code points
(a family joined by ZWJs, a flag, a skin tone) is one, and so is a letter with its
combining marks. Python's ``len`` counts code points, so it is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from bot.channels.base import TextMeasure

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> int:
    """How many graphemes ``text`` has, as Bluesky counts them."""
    return len(_GRAPHEME.findall(text))


def text_problem(text: str) -> str:
    """Why Bluesky would refuse ``text`` as a post's text ("" when it would not)."""
    count = graphemes(text)
    if count > MAX_GRAPHEMES:
        return f"{count} graphemes, over Bluesky's {MAX_GRAPHEMES}"
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        return f"{size} bytes of UTF-8, over Bluesky's {MAX_BYTES}"
    return ""


@dataclass(frozen=True)
class BlueskyFormat:
    """Plain text within 300 graphemes; the lead image goes in the link card as its thumbnail,
    which leaves the length rules unchanged."""

    media: bool = True
    hashtags: int = 3
    markup: str = "text"
    threads: bool = False

    def fits(self, text: str, *, with_media: bool) -> bool:
        return not text_problem(text)

    def measure(self, text: str, *, with_media: bool) -> TextMeasure:
        return TextMeasure(graphemes(text), MAX_GRAPHEMES, "graphemes", text_problem(text))

    def thread_parts(self, summary_rest: str, *, reserve: str = "") -> tuple[str, ...]:
        return ()
