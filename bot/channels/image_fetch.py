"""Downloading an article's lead image for a platform that uploads it (X, Mastodon, and
Bluesky's link card thumbnail).

The image URL is feed content: ``http`` must be a client from ``bot.urlpolicy.untrusted_client``
so the download (redirects included) never reaches inside the network. Every failure is a
``MediaFailure`` whose message is fit for a delivery's note: the caller posts without the
image rather than not at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import httpx

from bot.errors import UrlRefused
from bot.linkcheck import link_problem

IMAGE_DEADLINE_SECONDS = 30.0


class MediaFailure(Exception):
    """The image could not be attached; the message says why (no secrets, no URLs' query)."""


async def fetch_image(
    http: httpx.AsyncClient, url: str, *, max_bytes: int, types: Collection[str] | None,
    taker: str, deadline: float = IMAGE_DEADLINE_SECONDS, limit_word: str = "cap",
) -> tuple[bytes, str]:
    """Download an image: ``(bytes, media type)``. Refuses what is not an image of one of
    ``types`` (``taker``, the platform's name, is who does not take the others; ``None`` takes
    any ``image/*``, for a caller that reads the type from the bytes), files over
    ``max_bytes``, and gives up after ``deadline`` seconds in all (a server trickling bytes
    must not hold the post until its claim expires). A URL the policy refuses is a
    ``MediaFailure`` saying why. ``limit_word`` is the platform's own word for its size limit
    in the messages ("cap"; Bluesky documents a blob "limit")."""
    problem = link_problem(url)
    if problem:
        raise MediaFailure(f"image not fetched: {problem}")
    try:
        async with asyncio.timeout(deadline), http.stream("GET", url) as response:
            if response.status_code != 200:
                raise MediaFailure(f"image download failed: HTTP {response.status_code}")
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not media_type.startswith("image/"):
                raise MediaFailure(f"image URL is not an image ({media_type or 'no type'})")
            if types is not None and media_type not in types:
                raise MediaFailure(f"{taker} does not take {media_type} images")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MediaFailure(f"image is {int(declared)} bytes, over {taker}'s "
                                   f"{max_bytes} byte {limit_word}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise MediaFailure(f"image is over {taker}'s {max_bytes} byte {limit_word}")
    except TimeoutError:
        raise MediaFailure(f"image download took over {deadline:.0f}s; gave up") from None
    except UrlRefused as exc:
        raise MediaFailure(f"image not fetched: {exc.problem}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise MediaFailure(f"image download failed: {type(exc).__name__}") from None
    if not data:
        raise MediaFailure("image download failed: empty body")
    return bytes(data), media_type
