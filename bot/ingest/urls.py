"""One spelling per article URL, however it was linked."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "igsh",
        "ref_src",
        "ref_url",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt.mc_id",
        "__twitter_impression",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_campaign", "pk_kwd", "pk_source", "pk_medium", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def strip_userinfo(url: str) -> str:
    """Return ``url`` without any ``user:password@`` part, for messages and logs."""
    if "@" not in url:  # the usual case: no netloc could hold one
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


# An absolute http(s) URL of printable ASCII with a plain host (and maybe a port), a path
# without ";" (urljoin re-spells path parameters) and not starting "//": urljoin returns
# such a URL with the same parts, and urlsplit reads it as this pattern does, so its
# canonical spelling is put together from the match (``_canonical_plain``) without either.
# Anything else takes the general path below. (Not re.IGNORECASE: under it "s" matches "ſ".)
_PLAIN_ABSOLUTE = re.compile(
    r"([Hh][Tt][Tt][Pp][Ss]?)://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?"  # scheme, host, port
    r'(/(?!/)[!"$-:<->@-~]*)?'  # path: printable ASCII but "#", ";" and "?"
    r'(?:\?([!"$-~]*))?(?:#[!-~]*)?')  # query: printable ASCII but "#"; fragment


def canonical_url(url: str, base: str | None = None) -> str:
    """Return the canonical spelling of ``url``.

    A relative ``url`` is resolved against ``base``. The scheme and host are lowercased,
    default ports (80 for http, 443 for https) and the fragment dropped, and tracking
    parameters (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``, ``igshid``, ``_ga`` …) removed;
    the remaining query parameters keep their order and values. An empty path on an http(s)
    URL becomes ``/``. A string that cannot be parsed as a URL is returned stripped.
    """
    return canonical_link(url, base)[0]


def canonical_link(url: str, base: str | None = None) -> tuple[str, bool]:
    """``canonical_url(url, base)``, and True when that spelling is sure to pass
    ``bot.linkcheck.link_problem``: a plain http(s) URL spelled by ``_canonical_plain``
    without "xn--" in it (an IDNA host is the one such URL link_problem parses). An item's
    link is checked right after it is made canonical: this spares most items the check."""
    url = url.strip()
    plain = _PLAIN_ABSOLUTE.fullmatch(url)
    if plain is not None and (not base or _joinable(base)):
        found = _canonical_plain(plain)
        if found is not None:
            return found, "xn--" not in found
    return _canonical_parsed(url, base), False


def _canonical_parsed(url: str, base: str | None) -> str:
    """``canonical_url`` of a stripped ``url`` by urljoin and urlsplit: any URL at all."""
    if base:
        try:
            url = urljoin(base.strip(), url)
        except ValueError:
            return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not host and scheme not in ("http", "https"):
        return urlunsplit(parts._replace(scheme=scheme, fragment=""))
    netloc = f"[{host}]" if ":" in host else host
    if parts.username is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = parts.path or ("/" if scheme in ("http", "https") else "")
    return urlunsplit((scheme, netloc, path, _without_tracking(parts.query), ""))


def _without_tracking(query: str) -> str:
    if not query:
        return query
    # Filter the raw "name=value" segments so kept parameters stay byte-for-byte as linked.
    kept = []
    for segment in query.split("&"):
        name = segment.partition("=")[0]
        if "%" in name or "+" in name:  # else unquote_plus would return it as it is
            name = unquote_plus(name)
        # _is_tracking, inlined: a call per parameter of every item's link adds up.
        lowered = name.lower()
        if segment and not (lowered in _TRACKING_EXACT
                            or lowered.startswith(_TRACKING_PREFIXES)):
            kept.append(segment)
    return "&".join(kept)


@lru_cache(maxsize=256)
def _joinable(base: str) -> bool:
    """Whether urljoin can read ``base`` (one feed's items share it: asked once)."""
    try:
        urlsplit(base.strip())
    except ValueError:
        return False
    return True


def _canonical_plain(match: re.Match[str]) -> str | None:
    """``canonical_url`` of a URL ``_PLAIN_ABSOLUTE`` matched, or None when the general
    path must decide (a port out of range, a host of dots)."""
    scheme, host, port, path, query = match.groups()
    scheme = scheme.lower()
    host = host.lower().rstrip(".")
    if not host:
        return None
    if port is not None:
        number = int(port)
        if number > 65535:
            return None
        if number != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{number}"
    query = _without_tracking(query or "")
    return f"{scheme}://{host}{path or '/'}?{query}" if query else f"{scheme}://{host}{path or '/'}"
