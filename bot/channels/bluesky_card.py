"""The link card under a Bluesky post (``app.bsky.embed.external``): its title, description
and thumbnail.

Bluesky shows no preview for a URL in the text; a post carries its own card. The card's title
and description are read from the rendered post (the headline is its first line, the summary
what follows, hashtags and URLs left out), so an editor's own text gets a card that says the
same. The thumbnail is the article's image, a URL from the feed: it is fetched only through
an ``untrusted_client`` (``bot.urlpolicy``), and skipped, with the reason in the delivery's
note, when it is not a JPEG, PNG, WebP or GIF image or is over the blob limit Bluesky sets for
a card's thumbnail (1,000,000 bytes).

Nothing here imports atproto: bot/channels/bluesky.py turns the result into records.
"""

from __future__ import annotations

import re

import httpx

from bot.channels.image_fetch import MediaFailure, fetch_image

MAX_THUMB_BYTES = 1_000_000  # app.bsky.embed.external#external thumb: maxSize
THUMB_DEADLINE_SECONDS = 20.0
MAX_TITLE = 300
MAX_DESCRIPTION = 1000

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_HASHTAGS_ONLY = re.compile(r"^(?:[#＃]\S+\s*)+$")
# The first bytes of each image type a card thumbnail may be (Bluesky's apps show these).
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class ThumbSkipped(Exception):
    """The thumbnail is left out; the message says why (fit for a delivery's note)."""


def card_text(text: str, fallback_title: str) -> tuple[str, str]:
    """The card's ``(title, description)`` from a rendered post: the first line, then the
    rest without hashtags or URLs, each cut to what Bluesky's apps show."""
    lines = [line.strip() for line in text.strip().splitlines()]
    title = _URL.sub("", lines[0]).strip() if lines else ""
    rest = [_URL.sub("", line).strip() for line in lines[1:]
            if not _HASHTAGS_ONLY.match(line.strip())]
    description = " ".join(line for line in rest if line)
    return _cut(title or fallback_title, MAX_TITLE), _cut(description, MAX_DESCRIPTION)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def image_type(data: bytes) -> str:
    """The image type ``data`` starts like ("" when none a card may show)."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


async def fetch_thumb(http: httpx.AsyncClient, url: str, *, max_bytes: int = MAX_THUMB_BYTES,
                      deadline: float = THUMB_DEADLINE_SECONDS) -> tuple[bytes, str]:
    """Download a card thumbnail: ``(bytes, media type)``, the type read from the bytes.

    ``http`` must be an ``untrusted_client``; the download is ``image_fetch.fetch_image``'s.
    Raises ``ThumbSkipped`` for anything that is not a JPEG, PNG, WebP or GIF within
    ``max_bytes``, and after ``deadline`` seconds in all (a server trickling bytes must not
    hold the post)."""
    try:
        # Any declared image/* is fetched: a card shows what the bytes are, whatever the
        # server calls them, so the type is checked on the bytes below.
        data, declared_type = await fetch_image(http, url, max_bytes=max_bytes, types=None,
                                                taker="Bluesky", deadline=deadline,
                                                limit_word="limit")
    except MediaFailure as exc:
        raise ThumbSkipped(f"thumbnail: {exc}") from None
    media_type = image_type(data)
    if not media_type:
        raise ThumbSkipped(f"thumbnail is not a JPEG, PNG, WebP or GIF image "
                           f"(served as {declared_type})")
    return data, media_type
