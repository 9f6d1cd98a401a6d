"""Fetcher against a real loopback HTTP server: limits, conditional GET, and every failure."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from bot.config import Fetching
from bot.errors import SourceError
from bot.ingest.fetch import Fetcher, FetchResult
from tests.feed_server import FeedServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"


Fetch = Callable[..., Awaitable[FetchResult]]


@pytest.fixture(params=["page", "source"])
def fetch(request: pytest.FixtureRequest) -> Fetch:
    """Both ways a URL is fetched: as feed content (``Fetcher.fetch``, under the URL policy)
    and as a source's own URL from config.yaml (``fetch_source``, over asyncio's sockets,
    bot/ingest/aionet.py): each behaves the same."""
    def call(fetcher: Fetcher, url: str, **options: Any) -> Awaitable[FetchResult]:
        method = fetcher.fetch if request.param == "page" else fetcher.fetch_source
        return method(url, **options)
    return call


def settings(**overrides: object) -> Fetching:
    # The test server is on loopback, which the URL policy refuses unless allowed.
    return Fetching.model_validate({"timeout": 2, "allow_private": ["127.0.0.0/8"], **overrides})


async def test_ok_fetch_returns_body_headers_and_validators(
        fetch: Fetch, feed_server: FeedServer) -> None:
    url = feed_server.add(
        "/feed.xml", RSS, etag='"v1"', last_modified="Tue, 24 Nov 2026 06:00:00 GMT"
    )
    async with Fetcher(settings()) as fetcher:
        result = await fetch(fetcher, url, source_id="s")
    assert result.status == "ok"
    assert result.body == RSS
    assert result.url == url
    assert result.encoding == "utf-8"
    assert result.etag == '"v1"'
    assert result.last_modified == "Tue, 24 Nov 2026 06:00:00 GMT"
    assert result.header_map()["content-type"].startswith("application/rss+xml")


async def test_user_agent_and_accept_are_sent(fetch: Fetch, feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.xml", RSS)
    async with Fetcher(settings(user_agent="newsbot-test/1")) as fetcher:
        await fetch(fetcher, url, source_id="s")
    seen = feed_server.requests[-1].headers
    assert seen["user-agent"] == "newsbot-test/1"
    assert "application/rss+xml" in seen["accept"]


async def test_conditional_get_with_etag_gives_not_modified(
        fetch: Fetch, feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.xml", RSS, etag='"v1"')
    async with Fetcher(settings()) as fetcher:
        result = await fetch(fetcher, url, source_id="s", etag='"v1"')
    assert result.status == "not_modified"
    assert result.body == b""
    assert feed_server.requests[-1].headers["if-none-match"] == '"v1"'


async def test_conditional_get_with_last_modified_gives_not_modified(
    fetch: Fetch, feed_server: FeedServer,
) -> None:
    stamp = "Tue, 24 Nov 2026 06:00:00 GMT"
    url = feed_server.add("/feed.xml", RSS, last_modified=stamp)
    async with Fetcher(settings()) as fetcher:
        result = await fetch(fetcher, url, source_id="s", last_modified=stamp)
    assert result.status == "not_modified"


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_is_a_permanent_error_naming_the_url(
    fetch: Fetch, feed_server: FeedServer, status: int
) -> None:
    url = feed_server.add("/missing.xml", b"nope", status=status)
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(SourceError) as caught:
            await fetch(fetcher, url, source_id="iraq-en")
    assert caught.value.retryable is False
    assert f"HTTP {status}" in str(caught.value)
    assert url in str(caught.value)
    assert str(caught.value).startswith("source iraq-en:")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(
        fetch: Fetch, feed_server: FeedServer, status: int) -> None:
    url = feed_server.add("/feed.xml", b"oops", status=status)
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(SourceError) as caught:
            await fetch(fetcher, url, source_id="s")
    assert caught.value.retryable is True
    assert f"HTTP {status}" in str(caught.value)


async def test_a_slow_server_times_out_as_retryable(fetch: Fetch, feed_server: FeedServer) -> None:
    url = feed_server.add("/slow.xml", RSS, delay=2.0)
    async with Fetcher(settings(timeout=0.3)) as fetcher:
        with pytest.raises(SourceError) as caught:
            await fetch(fetcher, url, source_id="s")
    assert caught.value.retryable is True
    assert "0.3s" in str(caught.value)
    assert url in str(caught.value)


async def test_connection_refused_is_retryable(fetch: Fetch, closed_port_url: str) -> None:
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(SourceError) as caught:
            await fetch(fetcher, closed_port_url, source_id="s")
    assert caught.value.retryable is True
    assert "could not connect" in str(caught.value)


async def test_a_body_over_the_cap_is_aborted_while_streaming(
        fetch: Fetch, feed_server: FeedServer) -> None:
    url = feed_server.add_huge("/huge.xml", 50_000_000)
    async with Fetcher(settings(max_bytes=100_000)) as fetcher:
        with pytest.raises(SourceError) as caught:
            await fetch(fetcher, url, source_id="s")
    assert "max_bytes" in str(caught.value)
    assert caught.value.retryable is False


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    fetch: Fetch, feed_server: FeedServer,
) -> None:
    url = feed_server.add("/big.xml", b"x" * 200_000)
    async with Fetcher(settings(max_bytes=100_000)) as fetcher:
        with pytest.raises(SourceError, match="declares 200,000 bytes"):
            await fetch(fetcher, url, source_id="s")


async def test_redirects_are_followed_to_the_final_url(
        fetch: Fetch, feed_server: FeedServer) -> None:
    final = feed_server.add("/new.xml", RSS)
    start = feed_server.redirect("/old.xml", "/new.xml", status=301)
    async with Fetcher(settings()) as fetcher:
        result = await fetch(fetcher, start, source_id="s")
    assert result.url == final
    assert result.body == RSS


async def test_a_cookie_set_on_a_redirect_is_sent_to_its_target(
        fetch: Fetch, feed_server: FeedServer) -> None:
    # A consent wall: the site sets a cookie and sends the reader back for the feed.
    final = feed_server.add("/feed.xml", RSS)
    start = feed_server.redirect("/wall", "/feed.xml")
    feed_server.routes["/wall"].headers["Set-Cookie"] = "consent=yes; Path=/"
    async with Fetcher(settings()) as fetcher:
        result = await fetch(fetcher, start, source_id="s")
        again = await fetch(fetcher, final, source_id="s")
    assert result.url == final and again.body == RSS
    sent = [r.headers.get("cookie") for r in feed_server.requests]
    assert sent == [None, "consent=yes", "consent=yes"]


async def test_a_sources_own_url_is_parsed_once_and_where_it_redirects_is_not_kept(
        feed_server: FeedServer) -> None:
    # The parsed URL is kept for the next poll; a source whose redirects change every time
    # (a session token in the target) must not grow that store poll after poll.
    start = feed_server.redirect("/old.xml", "/new.xml", status=302)
    feed_server.add("/new.xml", RSS)
    async with Fetcher(settings()) as fetcher:
        results = [await fetcher.fetch_source(start, source_id="s") for _ in range(3)]
        page = await fetcher.fetch(start, source_id="s")
        kept = list(fetcher._source_urls)
    assert [r.body for r in results] == [RSS] * 3 and page.body == RSS
    assert kept == [start]


async def test_a_redirect_loop_is_a_permanent_error(fetch: Fetch, feed_server: FeedServer) -> None:
    start = feed_server.redirect("/a.xml", "/b.xml")
    feed_server.redirect("/b.xml", "/a.xml")
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(SourceError, match="redirects in a loop") as caught:
            await fetch(fetcher, start, source_id="s")
    assert caught.value.retryable is False


async def test_too_many_redirects_is_an_error(fetch: Fetch, feed_server: FeedServer) -> None:
    for n in range(4):
        feed_server.redirect(f"/r{n}", f"/r{n + 1}")
    feed_server.add("/r4", RSS)
    async with Fetcher(settings(max_redirects=2)) as fetcher:
        with pytest.raises(SourceError, match="more than 2 times"):
            await fetch(fetcher, feed_server.url("/r0"), source_id="s")


async def test_userinfo_never_appears_in_error_messages(
        fetch: Fetch, feed_server: FeedServer) -> None:
    feed_server.add("/missing.xml", b"", status=404)
    url = feed_server.url("/missing.xml").replace("http://", "http://editor:hunter2@")
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(SourceError) as caught:
            await fetch(fetcher, url, source_id="s")
    assert "hunter2" not in str(caught.value)


async def test_local_files_are_read_like_fetches() -> None:
    path = EXAMPLES / "feeds" / "en.rss.xml"
    async with Fetcher(settings()) as fetcher:
        result = await fetcher.fetch_source(str(path), source_id="s")
        again = await fetcher.fetch_source(str(path), source_id="s", etag=result.etag)
    assert result.status == "ok"
    assert result.body == path.read_bytes()
    assert again.status == "not_modified"


async def test_relative_local_paths_resolve_against_base_dir() -> None:
    async with Fetcher(settings(), base_dir=EXAMPLES) as fetcher:
        result = await fetcher.fetch_source("feeds/world.json", source_id="s")
    assert result.status == "ok"


async def test_a_missing_local_file_is_a_permanent_error(tmp_path: Path) -> None:
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(SourceError, match="no such file") as caught:
            await fetcher.fetch_local(tmp_path / "nope.xml", "s")
    assert caught.value.retryable is False


async def test_offline_pages_serve_sample_pages_for_the_sample_host() -> None:
    url = "https://news.example.org/en/2026/11/iraq-back-to-back-raids?utm_source=x"
    async with Fetcher(settings(), EXAMPLES / "pages") as fetcher:
        result = await fetcher.fetch(url, source_id="s")
    assert result.status == "ok"
    assert b"Iraqi forces are conducting consecutive offensives" in result.body
    assert result.url == url


async def test_offline_mode_refuses_other_hosts() -> None:
    async with Fetcher(settings(), EXAMPLES / "pages") as fetcher:
        with pytest.raises(SourceError, match="offline mode") as caught:
            await fetcher.fetch("https://elsewhere.example.com/story", source_id="s")
    assert caught.value.retryable is False


async def test_per_host_limit_caps_concurrent_requests(
        fetch: Fetch, feed_server: FeedServer) -> None:
    import asyncio

    url = feed_server.add("/slow.xml", RSS, delay=0.2)
    async with Fetcher(settings(per_host=1)) as fetcher:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(fetch(fetcher, url, source_id="s") for _ in range(3)))
        elapsed = loop.time() - started
    assert elapsed >= 0.55  # three 0.2 s answers, one at a time


@contextlib.contextmanager
def https_feed_server(ca: trustme.CA) -> Iterator[int]:
    """A feed server on loopback whose certificate, from ``ca``, names localhost only;
    its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def test_a_source_over_https_is_fetched_with_its_certificate_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with https_feed_server(ca) as port:
        url = f"https://localhost:{port}/feed.xml"
        with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            async with Fetcher(settings()) as fetcher:  # the system's CAs: not this one
                await fetcher.fetch_source(url, source_id="s")
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        async with Fetcher(settings()) as fetcher:
            result = await fetcher.fetch_source(url, source_id="s")
    assert "could not connect" in str(caught.value) and caught.value.retryable
    assert result.status == "ok" and result.body == RSS


async def test_the_ca_bundle_is_loaded_at_the_first_https_source_and_names_are_checked(
        feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading CAs costs a warm poll of plain-http feeds ~20 ms of CPU for nothing, so it
    # waits for an https source; from then on certificates are checked as ever.
    loaded: list[str] = []
    load = ssl.SSLContext.load_verify_locations

    def spy(context: ssl.SSLContext, cafile: Any = None, *args: Any, **kwargs: Any) -> None:
        loaded.append(str(cafile))
        load(context, cafile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", spy)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    plain = feed_server.add("/feed.xml", RSS)
    with https_feed_server(ca) as port:
        async with Fetcher(settings()) as fetcher:
            before = await fetcher.fetch_source(plain, source_id="plain")
            assert loaded == []
            secure = await fetcher.fetch_source(f"https://localhost:{port}/feed.xml",
                                                source_id="secure")
            with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
                # The same certificate, reached by an address it does not name.
                await fetcher.fetch_source(f"https://127.0.0.1:{port}/feed.xml",
                                           source_id="by-address")
    assert before.body == RSS and secure.body == RSS
    assert loaded == [str(tmp_path / "ca.pem")]


class _Feed(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(RSS)))
        self.end_headers()
        self.wfile.write(RSS)


async def test_a_feed_that_has_not_changed_leaves_its_connection_for_the_next_poll() -> None:
    # HTTP/1.1 keep-alive: polling unchanged feeds must not open a connection each time.
    connections = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n')
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/feed.xml"
    async with server, Fetcher(settings()) as fetcher:
        results = [await fetcher.fetch_source(url, source_id="s", etag='"v1"')
                   for _ in range(3)]
    assert [r.status for r in results] == ["not_modified"] * 3
    assert connections == 1
