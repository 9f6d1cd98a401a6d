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

import asyncio
import re

import httpx

from bot.errors import UrlRefused
from bot.urlpolicy import link_problem

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

    ``http`` must be an ``untrusted_client``. Raises ``ThumbSkipped`` for anything that is not
    a JPEG, PNG, WebP or GIF within ``max_bytes``, and after ``deadline`` seconds in all (a
    server trickling bytes must not hold the post)."""
    problem = link_problem(url)
    if problem:
        raise ThumbSkipped(f"thumbnail not fetched: {problem}")
    try:
        async with asyncio.timeout(deadline), http.stream("GET", url) as response:
            if response.status_code != 200:
                raise ThumbSkipped(f"thumbnail download failed: HTTP {response.status_code}")
            declared_type = response.headers.get("content-type", "").split(";")[0].strip()
            if not declared_type.lower().startswith("image/"):
                raise ThumbSkipped(
                    f"thumbnail URL is not an image ({declared_type or 'no type'})")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ThumbSkipped(f"thumbnail is {int(declared)} bytes, over Bluesky's "
                                   f"{max_bytes} byte limit")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise ThumbSkipped(f"thumbnail is over Bluesky's {max_bytes} byte limit")
    except TimeoutError:
        raise ThumbSkipped(f"thumbnail download took over {deadline:.0f}s; gave up") from None
    except UrlRefused as exc:
        raise ThumbSkipped(f"thumbnail not fetched: {exc.problem}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ThumbSkipped(f"thumbnail download failed: {type(exc).__name__}") from None
    media_type = image_type(bytes(data))
    if not media_type:
        raise ThumbSkipped(f"thumbnail is not a JPEG, PNG, WebP or GIF image "
                           f"(served as {declared_type})")
    return bytes(data), media_type
