"""An article's lead image for Mastodon: its upload's file name and its description for
screen readers.

The download is ``bot.channels.image_fetch``'s, with the types and size the instance says it
takes (``/api/v2/instance``), so an image it would refuse is not downloaded in full. The
upload itself (``POST /api/v2/media`` with its description) is the sender's, through
Mastodon.py.
"""

from __future__ import annotations

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
               "image/webp": ".webp", "image/heic": ".heic", "image/heif": ".heif",
               "image/avif": ".avif"}


def file_name(media_type: str) -> str:
    """A neutral file name for the upload (Mastodon ignores it; some servers show it)."""
    return "image" + _EXTENSIONS.get(media_type, "")


def description(alt: str, limit: int) -> str:
    """``alt`` on one line, cut to the instance's ``limit`` at a word where it can be."""
    text = " ".join(alt.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"
