"""Mastodon's length rules, as its server counts, and each instance's own limits.

Mastodon (``StatusLengthValidator``) counts the content warning and the text together, in
grapheme clusters (an emoji with skin tone, a flag or a letter with its accents is one),
after rewriting every http(s) URL to 23 characters and every ``@user@domain`` mention to
``@user``. The limit is the instance's own: 500 by default, often more; it comes from
``/api/v2/instance`` (``configuration.statuses``), which the sender and ``check --online``
read and remember here per ``api_url``, so the format the renderer holds follows it without
any I/O of its own. Pure apart from that small process-wide memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex
from twitter_text import extract_urls_with_indices

from bot.channels.base import TextMeasure
from bot.channels.mastodon_post import split_post

DEFAULT_MAX_CHARACTERS = 500  # Mastodon's own default, until the instance says otherwise
URL_CHARACTERS = 23
DEFAULT_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp",
                                 "image/heic", "image/heif", "image/avif"})
DEFAULT_IMAGE_BYTES = 16 * 1024 * 1024
DEFAULT_DESCRIPTION_CHARACTERS = 1500
UNIT = "characters"

# Account::MENTION_RE: a username, then an optional @domain that does not count.
_MENTION = regex.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@[\w.-]+\w)?",
                         regex.IGNORECASE)
# twitter-text's end_mention_match: "@a@" or "@a://" is no mention.
_NOT_AFTER_MENTION = regex.compile(r"[@＠\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]|://")
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class InstanceRules:
    """What one Mastodon instance accepts, from its ``/api/v2/instance``."""

    max_characters: int = DEFAULT_MAX_CHARACTERS
    url_characters: int = URL_CHARACTERS
    image_bytes: int = DEFAULT_IMAGE_BYTES
    image_types: frozenset[str] = DEFAULT_IMAGE_TYPES
    description_characters: int = DEFAULT_DESCRIPTION_CHARACTERS


def rules_from_instance(answer: Mapping[str, Any]) -> InstanceRules:
    """The rules in an ``/api/v2/instance`` answer; a value it lacks keeps Mastodon's
    default (servers that speak the API without being Mastodon leave some out)."""
    configuration = answer.get("configuration") or {}
    statuses = configuration.get("statuses") or {}
    media = configuration.get("media_attachments") or {}

    def number(section: Mapping[str, Any], key: str, default: int) -> int:
        value = section.get(key)
        return value if isinstance(value, int) and value > 0 else default

    types = media.get("supported_mime_types")
    image_types = (frozenset(t for t in types if isinstance(t, str) and t.startswith("image/"))
                   if isinstance(types, list) else DEFAULT_IMAGE_TYPES)
    return InstanceRules(
        max_characters=number(statuses, "max_characters", DEFAULT_MAX_CHARACTERS),
        url_characters=number(statuses, "characters_reserved_per_url", URL_CHARACTERS),
        image_bytes=number(media, "image_size_limit", DEFAULT_IMAGE_BYTES),
        image_types=image_types or DEFAULT_IMAGE_TYPES,
        description_characters=number(media, "description_limit",
                                      DEFAULT_DESCRIPTION_CHARACTERS),
    )


_known: dict[str, tuple[InstanceRules, float]] = {}
_known_lock = threading.Lock()


def _key(api_url: str) -> str:
    return api_url.rstrip("/").lower()


def remember(api_url: str, rules: InstanceRules, *, now: float | None = None) -> None:
    """Keep what ``api_url``'s instance said, for every format and sender in the process."""
    with _known_lock:
        _known[_key(api_url)] = (rules, time.monotonic() if now is None else now)


def known_rules(api_url: str) -> InstanceRules | None:
    """What ``api_url``'s instance said last, or None when it has not been asked yet."""
    with _known_lock:
        found = _known.get(_key(api_url))
    return found[0] if found else None


def rules_age(api_url: str, *, now: float | None = None) -> float | None:
    """Seconds since ``api_url``'s instance was last asked (None: never)."""
    with _known_lock:
        found = _known.get(_key(api_url))
    if found is None:
        return None
    return (time.monotonic() if now is None else now) - found[1]


def forget(api_url: str) -> None:
    """Drop what is known of ``api_url`` (tests, and an instance that changed its mind)."""
    with _known_lock:
        _known.pop(_key(api_url), None)


def graphemes(text: str) -> int:
    """How many grapheme clusters (user-perceived characters) ``text`` holds."""
    return len(_GRAPHEME.findall(text))


def countable_text(text: str, *, url_characters: int = URL_CHARACTERS) -> str:
    """``text`` as Mastodon counts it: each http(s) URL as ``url_characters`` x's, each
    ``@user@domain`` as ``@user`` (an entity inside an earlier one is not counted again)."""
    if not text.strip():
        return ""
    entities: list[tuple[int, int, str]] = []
    for found in extract_urls_with_indices(text, extract_urls_without_protocol=False):
        start, end = found["indices"]
        entities.append((start, end, "x" * url_characters))
    for match in _MENTION.finditer(text):
        if _NOT_AFTER_MENTION.match(text, match.end()):
            continue
        entities.append((match.start(), match.end(), "@" + match[1]))
    entities.sort()
    pieces: list[str] = []
    position = 0
    for start, end, replacement in entities:
        if start < position:  # overlaps the entity before it (a URL holding an "@")
            continue
        pieces.append(text[position:start])
        pieces.append(replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def countable_length(text: str, spoiler: str = "", *,
                     url_characters: int = URL_CHARACTERS) -> int:
    """The length Mastodon checks against its limit: the content warning and the text
    together, in graphemes, every URL ``url_characters`` and every mention without its
    domain."""
    return graphemes(spoiler + countable_text(text, url_characters=url_characters))


@dataclass(frozen=True)
class MastodonFormat:
    """The ``PostFormat`` for Mastodon: plain text within the instance's limit.

    ``max_characters`` is the editors' own cap (None: the instance's limit); the limit used
    is never above what the instance accepts. ``spoiler`` is the channel's content warning,
    which counts towards the limit unless a post's front matter gives its own. An image
    does not count, so ``with_media`` changes nothing.
    """

    api_url: str
    max_characters: int | None = None
    spoiler: str = ""
    media: bool = True
    hashtags: int = 3
    markup: str = "text"
    threads: bool = False

    @property
    def rules(self) -> InstanceRules:
        return known_rules(self.api_url) or InstanceRules()

    @property
    def limit(self) -> int:
        """The most characters a post may have now (the instance's limit when known)."""
        instance = self.rules.max_characters
        return instance if self.max_characters is None else min(instance, self.max_characters)

    def fits(self, text: str, *, with_media: bool) -> bool:
        return self.measure(text, with_media=with_media).ok

    def measure(self, text: str, *, with_media: bool) -> TextMeasure:
        """Mastodon's count of the post (content warning included) against the limit."""
        parts = split_post(text)
        spoiler = parts.spoiler or self.spoiler
        rules = self.rules
        limit = self.limit
        size = countable_length(parts.body, spoiler, url_characters=rules.url_characters)
        if parts.problem:
            return TextMeasure(size, limit, UNIT, parts.problem)
        if not parts.body:
            return TextMeasure(size, limit, UNIT, "the post is empty")
        if size > limit:
            return TextMeasure(size, limit, UNIT,
                               f"Mastodon counts {size} (every link {rules.url_characters}, "
                               "an @user@domain as @user, the content warning included); "
                               f"this instance takes at most {limit}")
        return TextMeasure(size, limit, UNIT)

    def thread_parts(self, summary_rest: str, *, reserve: str = "") -> tuple[str, ...]:
        return ()
