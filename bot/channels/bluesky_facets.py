"""Links and hashtags in a Bluesky post's text, as the facets that make them live.

Bluesky shows a post's text as typed: a URL or ``#tag`` in it is a link only when a facet
says so, and a facet points at its characters by UTF-8 byte offsets (``byteStart`` inclusive,
``byteEnd`` exclusive), not by character index. In Arabic a letter is 2 bytes, in CJK 3 and
an emoji 4 or more, so a facet counted in characters would underline the wrong words.

The rules follow Bluesky's own apps (``detectFacets`` in @atproto/api): a link is an
``http(s)://`` URL starting the text or after a space or "(", without the punctuation that
ends the sentence after it; a hashtag is "#" (or the full-width "＃") after a space or at the
start, up to the next space, holding at least one character that is neither a digit nor
punctuation, without trailing punctuation, at most 64 graphemes. Bare domains ("example.com")
are left alone: the article's own link goes in the post's card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import regex

from bot.channels.bluesky_text import graphemes

MAX_TAG_GRAPHEMES = 64
MAX_TAG_BYTES = 640

_URL = regex.compile(r"(?:^|(?<=[\s(]))https?://[^\s]+", regex.IGNORECASE)
# Characters Bluesky never counts as part of a tag: spaces, and invisible joiners/breaks.
_NOT_IN_TAG = r"\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2"
_TAG = regex.compile(
    rf"(?:^|(?<=\s))[#＃](?!\ufe0f)"
    rf"([^{_NOT_IN_TAG}]*[^\d\p{{P}}{_NOT_IN_TAG}]+[^{_NOT_IN_TAG}]*)"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
# What may end a sentence right after a URL, never the URL's own last character.
_URL_TAIL = ".,;:!?\"'»”’。、，！？"


@dataclass(frozen=True)
class Facet:
    """One live span of the text: a link to ``value`` or the hashtag ``value`` (no "#")."""

    byte_start: int
    byte_end: int
    kind: Literal["link", "tag"]
    value: str


def find_facets(text: str) -> tuple[Facet, ...]:
    """Every link and hashtag in ``text``, in order, with UTF-8 byte offsets."""
    offsets = _byte_offsets(text)
    found: list[tuple[int, int, Literal["link", "tag"], str]] = []
    for match in _URL.finditer(text):
        url = _trim_url(match[0])
        found.append((match.start(), match.start() + len(url), "link", url))
    for match in _TAG.finditer(text):
        tag = _TRAILING_PUNCTUATION.sub("", match[1])
        if not tag or graphemes(tag) > MAX_TAG_GRAPHEMES or \
                len(tag.encode("utf-8")) > MAX_TAG_BYTES:
            continue
        start = match.start()
        if any(s <= start < e for s, e, _, _ in found):  # a "#" inside a URL's fragment
            continue
        found.append((start, start + 1 + len(tag), "tag", tag))
    return tuple(Facet(offsets[s], offsets[e], kind, value)
                 for s, e, kind, value in sorted(found))


def _trim_url(url: str) -> str:
    while url and (url[-1] in _URL_TAIL or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


def _byte_offsets(text: str) -> list[int]:
    """``offsets[i]``: where character ``i`` starts in the UTF-8 encoding (and the end)."""
    offsets = [0]
    for char in text:
        offsets.append(offsets[-1] + len(char.encode("utf-8")))
    return offsets
