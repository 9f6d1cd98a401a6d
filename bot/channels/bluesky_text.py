"""A Bluesky post's text: its length rules (at most 300 graphemes and 3000 bytes of UTF-8)
and the front matter a template may start it with.

A grapheme is what a reader sees as one character (Unicode's extended grapheme cluster, as
Bluesky's own apps count with ``Intl.Segmenter``): an emoji built of several code points
(a family joined by ZWJs, a flag, a skin tone) is one, and so is a letter with its
combining marks. Python's ``len`` counts code points, so it is not used.

The renderer hands a channel only the rendered text, so the article's language reaches the
post's ``langs`` through a front-matter block at the very start of it, as Mastodon's
templates write theirs (bot/channels/mastodon_post.py)::

    ---
    langs: ar
    ---
    The post's text…

Only ``langs`` is read (at most 3 language tags, by commas or spaces). A value that is not a
language tag (a feed's ``<language>English</language>``) is left out rather than refused:
the post goes without it, and the channel's ``langs`` apply. Only the rest is posted and
measured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import regex

from bot.channels.base import TextMeasure
from bot.channels.front_matter import read_front_matter

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_LANGS = 3
_GRAPHEME = regex.compile(r"\X")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class PostParts:
    """A rendered post split into its text and the ``langs`` its front matter gave."""

    body: str
    langs: tuple[str, ...] = ()
    problem: str = ""  # why the front matter is unusable ("" when it is fine)


def split_post(text: str) -> PostParts:
    """``text`` without its front matter (``bot.channels.front_matter``), and the languages
    that block gave."""
    found = read_front_matter(text, ("langs",), example="langs: en")
    return PostParts(found.body, language_tags(found.values.get("langs", "")), found.problem)


def language_tags(value: str) -> tuple[str, ...]:
    """The language tags in ``value`` ("en_US, ar" → ("en-US", "ar")), at most 3, without
    anything that is not one."""
    tags = (t.replace("_", "-") for t in re.split(r"[,\s]+", value) if t)
    return tuple(dict.fromkeys(t for t in tags if _LANGUAGE_TAG.match(t)))[:MAX_LANGS]


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
        return self.measure(text, with_media=with_media).ok

    def measure(self, text: str, *, with_media: bool) -> TextMeasure:
        """The length of the text Bluesky gets (the front matter is not posted)."""
        parts = split_post(text)
        return TextMeasure(graphemes(parts.body), MAX_GRAPHEMES, "graphemes",
                           parts.problem or text_problem(parts.body))

    def thread_parts(self, summary_rest: str, *, reserve: str = "") -> tuple[str, ...]:
        return ()
