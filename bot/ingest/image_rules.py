"""Which image references can be a lead image at all, judged from the markup alone.

A feed's HTML carries tracking pixels (``<img src="/pixel.gif?track=1" width="1">``), spacer
GIFs, data URIs and broken ``src`` values (``<img src=x onerror=…>``) next to real photos.
These rules need no request; ``bot.ingest.image_check`` then asks the server about the ones
that pass.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MIN_DECLARED_PX = 100  # an image declared narrower or shorter than this is an icon or pixel
_IMAGE_EXTENSIONS = frozenset({
    "jpg", "jpeg", "jpe", "jfif", "pjpeg", "png", "gif", "webp", "avif", "bmp", "tif", "tiff",
    "heic", "heif",
})
_NOT_IMAGE_EXTENSIONS = frozenset({
    "html", "htm", "php", "asp", "aspx", "jsp", "js", "css", "json", "xml", "txt", "pdf", "mp4",
    "mp3", "m3u8", "webm", "mov", "svg", "ico", "cgi", "woff", "woff2",
})
# Image services behind a script (imrs.php?src=…): a declared og:image may be one.
_SCRIPT_EXTENSIONS = frozenset({"php", "asp", "aspx", "jsp", "cgi"})
# Path words of image services and CMS media folders: an extensionless URL there is a picture.
_IMAGE_PATH_WORDS = re.compile(
    r"/(?:images?|img|imgs|photos?|pictures?|media|uploads?|wp-content|resizer|thumbs?"
    r"|thumbnails?|assets|static|cdn|files|ichef|i|fit|crop|resize|render|image-?fetch)/",
    re.IGNORECASE,
)
_IMAGE_QUERY = re.compile(r"(?:^|&)(?:w|h|width|height|fm|format|fit|crop|auto|q|quality|resize)=",
                          re.IGNORECASE)
_TRACKING = re.compile(
    r"(?:^|[/._\-?=&])(?:pixel|pixels|beacon|spacer|1x1|tracking|tracker|trk|__utm|utm\.gif)"
    r"(?:$|[/._\-?=&])",
    re.IGNORECASE,
)
# Words that mean tracking only as a whole path segment ("/track/open.gif", "/blank.gif").
_TRACKING_SEGMENTS = frozenset({
    "track", "blank", "transparent", "clear", "counter", "analytics", "stat", "stats",
    "collect", "impression", "impressions", "open", "view", "hit", "log", "ping", "event",
})
_TRACKING_HOSTS = re.compile(
    r"(?:^|\.)(?:doubleclick\.net|google-analytics\.com|scorecardresearch\.com|quantserve\.com"
    r"|feeds\.feedburner\.com|pixel\.wp\.com|stats\.wp\.com|pixel\.quantserve\.com"
    r"|facebook\.com|bat\.bing\.com|analytics\.[\w.-]+)$",
    re.IGNORECASE,
)


def image_refusal(url: str, *, width: str | None = None, height: str | None = None,
                  declared: bool = False) -> str:
    """Why ``url`` cannot be a lead image, or ``""`` when it may be one.

    ``width``/``height``: the sizes the markup declares (attributes or ``media:content``).
    ``declared``: the page or feed names it as its image (``og:image``, ``media:content``,
    an enclosure), so an extensionless URL is given the benefit of the doubt; an ``<img>``
    found in HTML must look like an image path.
    """
    value = (url or "").strip()
    if not value:
        return "no image URL"
    if value.lower().startswith("data:"):
        return "a data: URI, not a link to an image"
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"not an http(s) image URL ({_short(value)})"
    for name, size in (("width", width), ("height", height)):
        pixels = _pixels(size)
        if pixels is not None and pixels < MIN_DECLARED_PX:
            return f"declared {name} {pixels} px (under {MIN_DECLARED_PX} px): an icon or pixel"
    if (_TRACKING_HOSTS.search(parts.hostname) or _TRACKING.search(unquote(parts.path))
            or _tracking_segment(parts.path)
            or (_TRACKING.search(parts.query) and not _has_image_extension(parts.path))):
        return f"looks like a tracking pixel ({_short(value)})"
    extension = _extension(parts.path)
    if extension in _NOT_IMAGE_EXTENSIONS and not (declared and extension in _SCRIPT_EXTENSIONS):
        return f"not an image file ({_short(value)})"
    if extension in _IMAGE_EXTENSIONS or declared:
        return ""
    if _IMAGE_PATH_WORDS.search(parts.path) or _IMAGE_QUERY.search(parts.query):
        return ""
    return f"does not look like an image path ({_short(value)})"


def _extension(path: str) -> str:
    last = unquote(path).rstrip("/").rpartition("/")[2]
    return last.rpartition(".")[2].lower() if "." in last else ""


def _tracking_segment(path: str) -> bool:
    for segment in unquote(path).lower().split("/"):
        stem, _, extension = segment.partition(".")
        if stem in _TRACKING_SEGMENTS or (len(stem) == 1 and extension == "gif"):
            return True
    return False


def _has_image_extension(path: str) -> bool:
    return _extension(path) in _IMAGE_EXTENSIONS


def _pixels(value: str | None) -> int | None:
    if value is None:
        return None
    match = re.match(r"\s*(\d+)\s*(?:px)?\s*$", value)
    return int(match.group(1)) if match else None


def _short(url: str) -> str:
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname}{parts.path}" if parts.hostname else url
    return shown if len(shown) <= 80 else shown[:77] + "…"
