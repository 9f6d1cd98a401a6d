"""An article's lead image onto X: download it safely, upload it through X's v2 media API.

tweepy 4.17 only knows the retired v1.1 upload, so the v2 calls are made here on tweepy's
requests session, whose mounted adapter routes them to ``api_url`` and signs them with OAuth
1.0a (see ``bot.channels.x``). Small images use the one-shot upload; larger ones the chunked
initialize / append / finalize sequence. Alt text goes through ``POST /2/media/metadata``.

The download is ``bot.channels.image_fetch``'s: the image URL is feed content, so ``http`` must
be a client from ``bot.urlpolicy.untrusted_client``.

Every failure is a ``MediaFailure`` whose message says what went wrong in words fit for a
delivery's note: the caller posts without the image rather than not at all.
"""

from __future__ import annotations

from typing import Any

import httpx
import requests

from bot.channels import image_fetch
from bot.channels.image_fetch import IMAGE_DEADLINE_SECONDS, MediaFailure

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # X's limit for images
CHUNKED_ABOVE = 1024 * 1024
CHUNK_SIZE = 1024 * 1024
MAX_ALT_TEXT = 1000  # X's limit, in characters
SUPPORTED_TYPES = frozenset(
    {"image/jpeg", "image/pjpeg", "image/png", "image/webp", "image/gif", "image/bmp",
     "image/tiff"}
)


async def fetch_image(http: httpx.AsyncClient, url: str, *, max_bytes: int = MAX_IMAGE_BYTES,
                      deadline: float = IMAGE_DEADLINE_SECONDS) -> tuple[bytes, str]:
    """Download an image X takes (``bot.channels.image_fetch.fetch_image``)."""
    return await image_fetch.fetch_image(http, url, max_bytes=max_bytes, types=SUPPORTED_TYPES,
                                         taker="X", deadline=deadline)


def upload_image(
    session: requests.Session,
    api_url: str,
    data: bytes,
    media_type: str,
    alt_text: str,
    *,
    chunked_above: int = CHUNKED_ABOVE,
    chunk_size: int = CHUNK_SIZE,
) -> str:
    """Upload ``data`` to X and set its alt text; returns the media id to attach.

    Blocking (requests): call it from a worker thread.
    """
    base = api_url.rstrip("/") + "/2/media"
    category = "tweet_gif" if media_type == "image/gif" else "tweet_image"
    if len(data) > chunked_above:
        media_id = _chunked(session, base, data, media_type, category, chunk_size)
    else:
        answer = _call(
            session, "upload", f"{base}/upload",
            files={"media": ("image", data, media_type)},
            data={"media_category": category, "media_type": media_type},
        )
        media_id = _media_id(answer, "upload")
    alt = " ".join(alt_text.split())[:MAX_ALT_TEXT]
    if alt:
        _call(
            session, "alt text", f"{base}/metadata",
            json={"id": media_id, "metadata": {"alt_text": {"text": alt}}},
        )
    return media_id


def _chunked(
    session: requests.Session,
    base: str,
    data: bytes,
    media_type: str,
    category: str,
    chunk_size: int,
) -> str:
    answer = _call(
        session, "upload initialize", f"{base}/upload/initialize",
        json={"media_type": media_type, "total_bytes": len(data), "media_category": category},
    )
    media_id = _media_id(answer, "upload initialize")
    for index, start in enumerate(range(0, len(data), chunk_size)):
        _call(
            session, f"upload append #{index}", f"{base}/upload/{media_id}/append",
            files={"media": ("chunk", data[start : start + chunk_size],
                             "application/octet-stream")},
            data={"segment_index": str(index)},
        )
    answer = _call(session, "upload finalize", f"{base}/upload/{media_id}/finalize")
    state = ((answer.get("data") or {}).get("processing_info") or {}).get("state")
    if state in ("pending", "in_progress", "failed"):
        # Images are not processed asynchronously; anything else is not worth waiting for.
        raise MediaFailure(f"media upload finalize: processing {state}")
    return media_id


def _call(session: requests.Session, step: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = session.post(url, **kwargs)
    except requests.Timeout:
        raise MediaFailure(f"media {step}: timed out") from None
    except requests.RequestException as exc:
        raise MediaFailure(f"media {step}: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not 200 <= response.status_code < 300:
        detail = answer.get("detail") if isinstance(answer, dict) else None
        words = f": {str(detail)[:200]}" if detail else ""
        raise MediaFailure(f"media {step}: HTTP {response.status_code}{words}")
    if not isinstance(answer, dict):
        raise MediaFailure(f"media {step}: unexpected answer")
    return answer


def _media_id(answer: dict[str, Any], step: str) -> str:
    media_id = (answer.get("data") or {}).get("id")
    if not isinstance(media_id, str) or not media_id.isdigit():
        raise MediaFailure(f"media {step}: no media id in X's answer")
    return media_id
