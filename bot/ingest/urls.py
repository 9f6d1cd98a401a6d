"""One spelling per article URL, however it was linked."""

from __future__ import annotations

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


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_EXACT or lowered.startswith(_TRACKING_PREFIXES)


def strip_userinfo(url: str) -> str:
    """Return ``url`` without any ``user:password@`` part, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def canonical_url(url: str, base: str | None = None) -> str:
    """Return the canonical spelling of ``url``.

    A relative ``url`` is resolved against ``base``. The scheme and host are lowercased,
    default ports (80 for http, 443 for https) and the fragment dropped, and tracking
    parameters (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``, ``igshid``, ``_ga`` …) removed;
    the remaining query parameters keep their order and values. An empty path on an http(s)
    URL becomes ``/``. A string that cannot be parsed as a URL is returned stripped.
    """
    url = url.strip()
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
    query = parts.query
    if query:
        # Filter the raw "name=value" segments so kept parameters stay byte-for-byte as linked.
        kept = [
            seg
            for seg in query.split("&")
            if seg and not _is_tracking(unquote_plus(seg.partition("=")[0]))
        ]
        query = "&".join(kept)
    return urlunsplit((scheme, netloc, path, query, ""))
