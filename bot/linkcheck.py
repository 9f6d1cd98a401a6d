"""Whether a URL from feed content may be linked or fetched at all: its scheme and shape,
without DNS (``link_problem``). Where it may connect to is ``bot/urlpolicy.py``'s job.

Apart from that module so that what checks every feed item's links (``bot/ingest/items.py``,
in the parser process too) does not load an HTTP client to do it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# An http(s) URL of printable ASCII with a plain host: httpx accepts every one, so the
# ~100 µs it takes to parse one is skipped for nearly every item link (ingest calls this
# for each item of each poll). Such a URL with a port in range and no IDNA label needs no
# other check either: urlsplit finds that very host (so a scheme and a host), and cannot fail.
# Not re.IGNORECASE: under it "ſ" and the Kelvin sign match ASCII letters, and httpx refuses
# "http://ſ.com/".
_PLAIN_HTTP_URL = re.compile(
    r"[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9._~-]+)(?::([0-9]{1,5}))?(?:[/?#][!-~]*)?")


def link_problem(url: str) -> str | None:
    """Why ``url`` may not be fetched or linked at all (no DNS involved), or None.

    Only absolute ``http``/``https`` URLs with a host pass: ``javascript:``, ``data:``,
    ``file:``, relative URLs and bare paths such as ``/etc/passwd`` do not.
    """
    plain = _PLAIN_HTTP_URL.fullmatch(url)
    if (plain is not None and "xn--" not in plain.group(1).lower()
            and (plain.group(2) is None or int(plain.group(2)) <= 65535)):
        return None
    return _parsed_link_problem(url)


def _parsed_link_problem(url: str) -> str | None:
    """``link_problem`` by urlsplit (and httpx, for all but a plain URL): any URL at all."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
        if ((not _PLAIN_HTTP_URL.fullmatch(url) or "xn--" in parts.netloc.lower())
                and not _httpx_takes(url)):
            return "it is not a valid URL"
    except ValueError:
        return "it is not a valid URL"
    scheme = parts.scheme.lower()
    if not scheme:
        return "it is not an absolute http(s) URL"
    if scheme not in ("http", "https"):
        return f"its scheme is {scheme}: (only http and https URLs are fetched or linked)"
    if not parts.hostname:
        return "it has no host"
    return None


def _httpx_takes(url: str) -> bool:
    """Whether httpx, which fetches it, takes ``url`` (control characters, bad IDNA …)."""
    import httpx  # here: only a URL off the plain path needs it, and most never do

    try:
        _ = httpx.URL(url).host
    except (ValueError, httpx.InvalidURL):
        return False
    return True
