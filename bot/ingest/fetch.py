"""Fetching feeds and pages: one method in, one ``FetchResult`` out, every failure a SourceError.

feedparser's own fetching has no size cap and no async, so bytes come from here (httpx, with
conditional GET, a time limit, a size cap, a redirect cap and a per-host concurrency limit) and
go to the parser together with the response headers.

Local files and the offline sample pages are read by ``bot.ingest.fetch_files``; the result
type is ``bot.ingest.fetched.FetchResult``.

Two kinds of URL come here. A source's own URL or path is config.yaml's, so it is trusted: it
may be a local file or on a private network. Everything else (an item's link, a redirect from a
source to another host) is feed content, fetched only under the outbound-URL policy
(``bot.urlpolicy``): http(s) only, public addresses only unless ``fetch.allow_private`` says
otherwise, checked again on every redirect hop.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

import httpcore
import httpx

from bot.config import Fetching
from bot.errors import SourceError
from bot.ingest.aiopool import SourcePool
from bot.ingest.fetch_errors import past_deadline, status_error, too_large, worded
from bot.ingest.fetch_files import read_file, read_sample_page
from bot.ingest.fetched import FetchResult as FetchResult  # what fetching returns
from bot.ingest.urls import strip_userinfo
from bot.linkcheck import link_problem
from bot.urlpolicy import UrlPolicy, untrusted_client

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
#: What httpx's default transport is built with for the sources' client, whose pool is then
#: replaced (``Fetcher._sources_client``): verification on (a client context checks the
#: certificate and the host name) and no CA loaded, so should it ever be used it refuses
#: every certificate rather than accept one.
_TRUSTS_NO_CA = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
#: Which queue a fetch waits in for its host's ``per_host`` slots: sources' feeds, or the
#: article pages their items link to.
Pool = Literal["feed", "page"]


@dataclass(frozen=True)
class Deadline:
    """The moment (event-loop time) by which a piece of work must be over, and its length.

    One source's poll gets one (``fetch.source_deadline``); every fetch made for it, the
    wait for a free per-host slot included, ends by then, so a slow site can hold up only
    its own source and only for that long.
    """

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(asyncio.get_running_loop().time() + seconds, seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - asyncio.get_running_loop().time())


class _CookieJar(httpx.Cookies):
    """httpx's cookie jar (a site's cookie wall still sees its cookie on the redirect back),
    passing over responses that set no cookie. httpx hands every response to the jar, which
    builds urllib stand-ins for the request and response before finding no Set-Cookie
    header: ~5% of the CPU of fetching a feed."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


class Fetcher:
    """Fetches http(s) URLs and local files within the limits of ``fetching``.

    Use as an async context manager. ``fetch`` is for URLs from feed content (under the URL
    policy); ``fetch_source`` for a source's URL or path from config.yaml. ``offline_pages``:
    when given, ``fetch`` never touches the network: a URL on ``news.example.org`` is served
    from ``<offline_pages>/<last path segment>.html`` and any other host is an error.
    ``base_dir`` resolves relative local paths (the directory of config.yaml). ``transport``
    is for tests: it replaces the network, and with it the address checks.
    """

    def __init__(
        self,
        fetching: Fetching | None = None,
        offline_pages: Path | None = None,
        *,
        base_dir: Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = fetching or Fetching()
        self.offline_pages = offline_pages
        self.base_dir = base_dir
        self._transport = transport
        self.policy = UrlPolicy.allowing(self.settings.allow_private)
        self._client: httpx.AsyncClient | None = None  # a source's own host only
        # Every response of ``_client`` comes from SourcePool (no proxies mounted), which
        # gives a connection back when a 304 is closed unread (see _answer).
        self._unread_304_kept = False
        self._checked: httpx.AsyncClient | None = None  # everything else
        self._hosts: dict[tuple[str, Pool], asyncio.Semaphore] = {}
        self._source_urls: dict[str, httpx.URL] = {}  # see _parsed

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections (the fetcher can be used again afterwards)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._checked is not None:
            await self._checked.aclose()
            self._checked = None

    def _http(self, *, trusted: bool) -> httpx.AsyncClient:
        if not trusted and self._transport is None:
            if self._checked is None:
                self._checked = untrusted_client(
                    self.policy, timeout=self.settings.timeout.total_seconds(),
                    headers={"User-Agent": self.settings.user_agent})
            return self._checked
        if self._client is None:
            self._client = self._sources_client()
        return self._client

    def _sources_client(self) -> httpx.AsyncClient:
        """The client for the sources' own hosts: httpx's, with its pool replaced by
        ``SourcePool``, whose feeds go over asyncio's own sockets (bot/ingest/aionet.py) and
        primitives (bot/ingest/aiopool.py): anyio's layer, locks and events and httpcore's
        pool sweep cost over half the CPU of fetching. Everything else (the limits, proxies
        from the environment, which httpx mounts apart) stays httpx's.

        httpx builds a TLS context with the client, loading certifi's CA bundle: ~20 ms of
        CPU that a poll of plain-http feeds never uses, since the pool holding that context is
        replaced. So the client is first built with a context that trusts no CA, and
        ``SourcePool`` builds the context httpx would have (``httpx.create_ssl_context()``:
        SSL_CERT_FILE or SSL_CERT_DIR honoured, certificates and host names checked) before
        its first https request. When httpx mounted proxy transports from the environment,
        which keep the context they were built with, the client is built again with
        httpx's own contexts, as before.
        """
        self._unread_304_kept = False
        client = self._client_verifying(_TRUSTS_NO_CA)
        if self._transport is not None:
            return client  # tests: no network, no TLS
        proxied = any(mount is not None for mount in client._mounts.values())
        if proxied:
            client = self._client_verifying(True)
        pool = getattr(client._transport, "_pool", None)
        if isinstance(pool, httpcore.AsyncConnectionPool):
            self._unread_304_kept = not proxied
            client._transport._pool = SourcePool(  # type: ignore[attr-defined]
                ssl_context=httpx.create_ssl_context,
                max_connections=_LIMITS.max_connections,
                max_keepalive_connections=_LIMITS.max_keepalive_connections,
                keepalive_expiry=_LIMITS.keepalive_expiry)
        # (Were an httpx upgrade to move its pool, the context trusting no CA would stay and
        # every https source would fail its certificate check: never pass unchecked. The
        # https tests in tests/test_ingest_fetch.py would fail.)
        return client

    def _client_verifying(self, verify: ssl.SSLContext | bool) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout.total_seconds()),
            follow_redirects=False,
            headers={"User-Agent": self.settings.user_agent},
            transport=self._transport,
            limits=_LIMITS,
            verify=verify,
        )
        client._cookies = _CookieJar()  # see _CookieJar; the `cookies` setter would copy it
        return client

    def _semaphore(self, host: str, pool: Pool) -> asyncio.Semaphore:
        semaphore = self._hosts.get((host, pool))
        if semaphore is None:
            semaphore = self._hosts[host, pool] = asyncio.Semaphore(self.settings.per_host)
        return semaphore

    async def fetch(
        self,
        url: str,
        *,
        source_id: str,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
        deadline: Deadline | None = None,
    ) -> FetchResult:
        """Fetch ``url``, which came from feed content (an item's link), under the URL policy.

        Only an http(s) URL whose host (and every redirect hop's) resolves to an allowed
        address is fetched; anything else raises a non-retryable ``SourceError`` saying why,
        for the caller to note against the item. Otherwise as ``fetch_source``.
        """
        problem = link_problem(url)
        if problem:
            raise SourceError(source_id, f"{strip_userinfo(url)!r} was not fetched: {problem}",
                              retryable=False)
        if self.offline_pages is not None:
            return await self._fetch_offline(url, source_id)
        return await self._fetch_checked(url, source_id, etag, last_modified, accept, deadline,
                                         trusted_host=None)

    async def fetch_source(
        self,
        location: str,
        *,
        source_id: str,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
        deadline: Deadline | None = None,
    ) -> FetchResult:
        """Fetch a source's ``location`` from config.yaml: an http(s) URL, a ``file:`` URL or
        a filesystem path.

        The location is trusted, so its own host is fetched wherever it is; a redirect to
        another host is feed content and goes through the URL policy. With ``etag`` /
        ``last_modified`` this is a conditional GET and an unchanged resource gives
        ``status="not_modified"`` with an empty body. Raises ``SourceError`` naming the URL
        and what to do: 404/410, other 4xx, a body over ``max_bytes``, refused addresses and
        redirect loops are not retryable; 5xx, 429, timeouts and connection failures are.

        Each request gets ``fetch.timeout`` once it has a slot for its host, and the whole
        fetch (slot waits and redirects included) ends by ``deadline``: by default
        ``fetch.source_deadline`` from now, so no fetch waits for a slot for ever.
        """
        scheme = urlsplit(location).scheme.lower()
        if scheme not in ("http", "https"):
            if scheme == "file":
                return await self.fetch_local(unquote(urlsplit(location).path), source_id,
                                              etag=etag, last_modified=last_modified)
            return await self.fetch_local(location, source_id, etag=etag,
                                          last_modified=last_modified)
        host = (urlsplit(location).hostname or "").lower()
        return await self._fetch_checked(location, source_id, etag, last_modified, accept,
                                         deadline, trusted_host=host)

    async def _fetch_checked(self, url: str, source_id: str, etag: str | None,
                             last_modified: str | None, accept: str,
                             deadline: Deadline | None, *,
                             trusted_host: str | None) -> FetchResult:
        """``_fetch_http`` with its failures translated into ``SourceError``."""
        if deadline is None:
            deadline = Deadline.after(self.settings.deadline.total_seconds())
        with worded(source_id, url, timeout=self.settings.timeout.total_seconds()):
            return await self._fetch_http(url, source_id, etag, last_modified, accept, deadline,
                                          trusted_host)

    async def _fetch_http(
        self,
        url: str,
        source_id: str,
        etag: str | None,
        last_modified: str | None,
        accept: str,
        deadline: Deadline,
        trusted_host: str | None,
    ) -> FetchResult:
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        # Feeds and pages queue for a host apart: one source's slow pages on a site never
        # hold up another source's feed on the same site.
        pool: Pool = "page" if trusted_host is None else "feed"
        timeout = self.settings.timeout.total_seconds()
        loop = asyncio.get_running_loop()
        seen = [url]
        current = url
        while True:
            host = (urlsplit(current).hostname or "").lower()
            client = self._http(trusted=host == trusted_host)
            target = self._parsed(current, own=current is url and pool == "feed")
            # Waiting for the host's turn counts against the deadline, so ten pages queued on
            # one slow site end when the source's time does. Then the whole exchange (headers
            # and body) shares one limit, so a server that drips bytes cannot hold a worker
            # forever. (Written out rather than as context managers of our own: each costs
            # a generator and a dozen calls, for every feed of every poll.)
            semaphore = await self._slot(host, pool, source_id, current, deadline)
            try:
                until = loop.time() + timeout
                try:
                    async with asyncio.timeout_at(min(until, deadline.at)):
                        response = await client.send(
                            client.build_request("GET", target, headers=headers), stream=True)
                        try:
                            answer = await self._answer(
                                response, url, current, seen, source_id,
                                read_304=client is not self._client or not self._unread_304_kept)
                        finally:
                            await response.aclose()
                except TimeoutError:
                    if deadline.at < until:
                        raise past_deadline(source_id, current, deadline.seconds,
                                            "it was still coming in") from None
                    raise  # fetch.timeout: worded by _fetch_checked
            finally:
                semaphore.release()
            if isinstance(answer, FetchResult):
                return answer
            seen.append(answer)
            current = answer

    def _parsed(self, url: str, *, own: bool) -> httpx.URL | str:
        """``url`` as httpx parses it, kept for the next poll when it is a source's ``own``
        URL (config.yaml's, not where it redirects: as many as there are sources). httpx
        checks a URL string character by character: ~100 calls a feed, every poll, for the
        same few hundred URLs."""
        if not own:
            return url  # feed content or a redirect: not worth keeping
        parsed = self._source_urls.get(url)
        if parsed is None:
            parsed = self._source_urls[url] = httpx.URL(url)
        return parsed

    async def _answer(self, response: httpx.Response, url: str, current: str, seen: list[str],
                      source_id: str, *, read_304: bool) -> FetchResult | str:
        """What ``current``'s response says: the fetch's result, or where it redirects to
        (``url``: the URL first asked for; ``seen``: every URL asked for since;
        ``read_304``: whether a 304's empty body must be read for its connection to be
        kept)."""
        status = response.status_code
        if status in _REDIRECTS and "location" in response.headers:
            target = urljoin(current, response.headers["location"])
            if target in seen:
                raise SourceError(
                    source_id,
                    f"{strip_userinfo(url)} redirects in a loop ("
                    + " → ".join(strip_userinfo(u) for u in [*seen, target])
                    + "): the server is misconfigured; ask its owner or use another URL",
                    retryable=False,
                )
            if len(seen) > self.settings.max_redirects:
                raise SourceError(
                    source_id,
                    f"{strip_userinfo(url)} redirected more than "
                    f"{self.settings.max_redirects} times (last to "
                    f"{strip_userinfo(target)}): use the final URL or raise "
                    "fetch.max_redirects",
                    retryable=False,
                )
            if urlsplit(target).scheme.lower() not in ("http", "https"):
                raise SourceError(
                    source_id,
                    f"{strip_userinfo(current)} redirects to a non-http URL "
                    f"({strip_userinfo(target)})",
                    retryable=False,
                )
            return target
        if status == 304:
            # A 304 has no body, but httpcore's pool takes one closed unread for unfinished
            # and closes its connection (a warm poll of 200 feeds opened 200 connections)
            # unless it is read, through httpx's and httpcore's seven nested streams (~7%
            # of a 304's CPU). The sources' pool (aiopool.py) knows a 304 ends with its
            # headers and keeps the connection of one closed unread.
            if read_304:
                await response.aread()
            return self._result("not_modified", b"", current, response)
        if status >= 400:
            raise status_error(source_id, current, response)
        body = await self._read_capped(response, source_id, current)
        return self._result("ok", body, current, response)

    async def _slot(self, host: str, pool: Pool, source_id: str, url: str,
                    deadline: Deadline) -> asyncio.Semaphore:
        """Take one of ``host``'s ``per_host`` slots for ``pool`` (feeds or pages), and
        return the semaphore to release it to; SourceError if none frees in time."""
        semaphore = self._semaphore(host, pool)
        if not semaphore.locked():
            await semaphore.acquire()  # free: taken at once, no timer to set
            return semaphore
        try:
            async with asyncio.timeout_at(deadline.at):
                await semaphore.acquire()
        except TimeoutError:
            raise past_deadline(source_id, url, deadline.seconds,
                                "it was still waiting for a free slot for "
                                f"{host} (fetch.per_host: {self.settings.per_host})") from None
        return semaphore

    async def _read_capped(self, response: httpx.Response, source_id: str, url: str) -> bytes:
        cap = self.settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise too_large(source_id, url, cap, f"it declares {int(declared):,} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise too_large(source_id, url, cap, "the body kept coming")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _result(
        status: Literal["ok", "not_modified"], body: bytes, url: str, response: httpx.Response
    ) -> FetchResult:
        # httpx's items(): names lowercased, a repeated header's values joined with ", " (as
        # its get() joins them), each header decoded once rather than once a lookup.
        headers = tuple(response.headers.items())
        named = dict(headers)
        return FetchResult(
            status=status,
            body=body,
            url=url,
            content_type=named.get("content-type", ""),
            encoding=response.charset_encoding,
            etag=named.get("etag"),
            last_modified=named.get("last-modified"),
            headers=headers,
        )

    async def fetch_local(
        self,
        path: str | os.PathLike[str],
        source_id: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """Read a local file as if it were fetched (same size cap, same errors); an
        unchanged file gives ``status="not_modified"`` (``bot.ingest.fetch_files``)."""
        return await read_file(path, source_id, base_dir=self.base_dir,
                               max_bytes=self.settings.max_bytes, etag=etag)

    async def _fetch_offline(self, url: str, source_id: str) -> FetchResult:
        assert self.offline_pages is not None
        return await read_sample_page(url, source_id, self.offline_pages,
                                      max_bytes=self.settings.max_bytes)
