"""The sources' connection pool on asyncio's primitives (bot/ingest/aiopool.py): a request
cancelled at any point gives its connection back or closes it, a close that is cancelled
still ends, httpcore's errors stay httpcore's, and anyio's backend is never loaded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import httpcore
import httpx
import pytest

from bot.config import Fetching
from bot.ingest.aionet import AsyncioBackend, AsyncioStream
from bot.ingest.aiopool import SourcePool, shielded
from bot.ingest.fetch import Fetcher

Answer = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
NOT_MODIFIED = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'


class Server:
    """A loopback HTTP server: ``answer(n, reader, writer)`` serves its n-th connection;
    ``ended[n]`` is set when the client closed that connection."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.ended: dict[int, asyncio.Event] = {}
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = self.connections
        self.connections += 1
        self.ended[n] = asyncio.Event()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await self.answer(n, reader, writer)
            while await reader.read(65536):  # until the client hangs up
                pass
        self.ended[n].set()
        writer.close()


@contextlib.asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[Server]:
    server = Server(answer)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/feed.xml"
    async with listener:
        yield server


async def answer_304s(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.readuntil(b"\r\n\r\n"):
        writer.write(NOT_MODIFIED)
        await writer.drain()


def pool_of(fetcher: Fetcher) -> SourcePool:
    pool = fetcher._http(trusted=True)._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, SourcePool)
    return pool


def settings() -> Fetching:
    return Fetching.model_validate({"timeout": 5})


async def test_a_request_cancelled_before_its_answer_closes_its_connection() -> None:
    asked = asyncio.Event()

    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if n == 0:
            await reader.readuntil(b"\r\n\r\n")
            asked.set()  # and never answers
            return
        await answer_304s(reader, writer)

    async with serving(answer) as server, Fetcher(settings()) as fetcher:
        task = asyncio.create_task(fetcher.fetch_source(server.url, source_id="s", etag='"v1"'))
        await asyncio.wait_for(asked.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.ended[0].wait(), 5)  # the half-used connection closed
        assert pool_of(fetcher).connections == []
        again = await fetcher.fetch_source(server.url, source_id="s", etag='"v1"')
    assert again.status == "not_modified" and server.connections == 2


async def test_a_request_cancelled_mid_body_closes_its_connection_and_the_pool_goes_on() -> None:
    sent = asyncio.Event()

    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if n == 0:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<rss>")
            await writer.drain()
            sent.set()  # the other 995 bytes never come
            return
        await answer_304s(reader, writer)

    async with serving(answer) as server, Fetcher(settings()) as fetcher:
        task = asyncio.create_task(fetcher.fetch_source(server.url, source_id="s"))
        await asyncio.wait_for(sent.wait(), 5)
        await asyncio.sleep(0.05)  # the client is in the body now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.ended[0].wait(), 5)
        pool = pool_of(fetcher)
        assert pool.connections == [] and pool._requests == []
        again = await fetcher.fetch_source(server.url, source_id="s", etag='"v1"')
    assert again.status == "not_modified"


class _SlowToClose(AsyncioStream):
    """A connection whose close takes a while (a TLS goodbye, say)."""

    closing: ClassVar[asyncio.Event] = asyncio.Event()
    closed: ClassVar[list[bool]] = []

    async def aclose(self) -> None:
        type(self).closing.set()
        await asyncio.sleep(0.1)
        await super().aclose()
        type(self).closed.append(True)


class _SlowToCloseBackend(AsyncioBackend):
    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        stream = await super().connect_tcp(*args, **kwargs)
        assert isinstance(stream, AsyncioStream)
        return _SlowToClose(stream._transport, stream._receiver)


async def test_a_close_cancelled_again_while_it_runs_still_ends() -> None:
    # Cancelled mid-body, the response is closed, and so is its connection (half-read, it
    # cannot be reused); a second cancellation during that close must not leave the
    # connection open and the pool's books wrong.
    _SlowToClose.closing = asyncio.Event()
    _SlowToClose.closed = []
    sent = asyncio.Event()

    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<rss>")
        await writer.drain()
        sent.set()

    async with serving(answer) as server, Fetcher(settings()) as fetcher:
        pool = pool_of(fetcher)
        pool._network_backend = _SlowToCloseBackend()
        task = asyncio.create_task(fetcher.fetch_source(server.url, source_id="s"))
        await asyncio.wait_for(sent.wait(), 5)
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.wait_for(_SlowToClose.closing.wait(), 5)
        task.cancel()  # again, while the connection is closing
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _SlowToClose.closed == [True]  # the close ran to its end before the task ended
        assert pool.connections == [] and pool._requests == []
        await asyncio.wait_for(server.ended[0].wait(), 5)


async def test_shielded_work_that_fails_after_waiting_raises_its_own_error() -> None:
    async def close() -> None:
        await asyncio.sleep(0)
        raise OSError("the close failed")

    with pytest.raises(OSError, match="the close failed"):
        await shielded(close())


async def test_a_request_that_waits_too_long_for_a_connection_is_a_pool_timeout() -> None:
    asked = asyncio.Event()

    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        asked.set()  # holds the pool's only connection

    pool = SourcePool(ssl_context=httpx.create_ssl_context, max_connections=1,
                      max_keepalive_connections=1, keepalive_expiry=5)
    async with serving(answer) as server, client_over(
            pool, httpx.Timeout(5, pool=0.1)) as client:
        first = asyncio.create_task(client.get(server.url))
        await asyncio.wait_for(asked.wait(), 5)
        with pytest.raises(httpx.PoolTimeout):
            await client.get(server.url)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        assert pool._requests == []


async def test_with_httpcore_debug_logging_each_step_is_still_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_304s(reader, writer)

    with caplog.at_level(logging.DEBUG, logger="httpcore"):
        async with serving(answer) as server, Fetcher(settings()) as fetcher:
            results = [await fetcher.fetch_source(server.url, source_id="s", etag='"v1"')
                       for _ in range(2)]
    assert [r.status for r in results] == ["not_modified"] * 2
    assert server.connections == 1
    steps = [r.getMessage() for r in caplog.records if r.name == "httpcore.http11"]
    assert sum("receive_response_headers.complete" in step for step in steps) == 2


def test_fetching_never_loads_anyios_asyncio_backend() -> None:
    # ~20 ms of imports at the first request, for locks and events asyncio has itself.
    script = textwrap.dedent("""
        import asyncio, sys
        from bot.config import Fetching
        from bot.ingest.fetch import Fetcher

        async def main():
            async def answer(reader, writer):
                await reader.readuntil(b"\\r\\n\\r\\n")
                writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\n<rss>")
                await writer.drain()
                writer.close()
            server = await asyncio.start_server(answer, "127.0.0.1", 0)
            url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/feed.xml"
            async with server, Fetcher(Fetching()) as fetcher:
                result = await fetcher.fetch_source(url, source_id="s")
            print(result.body.decode(), "anyio._backends._asyncio" in sys.modules)

        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["<rss>", "False"]


def client_over(pool: SourcePool, timeout: httpx.Timeout | float = 5) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport()
    transport._pool = pool
    return httpx.AsyncClient(transport=transport, timeout=timeout)


async def test_idle_connections_are_reused_beyond_keepalive_closed_and_expired_replaced() -> None:
    gate = asyncio.Event()

    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            await gate.wait()
            writer.write(NOT_MODIFIED)
            await writer.drain()

    pool = SourcePool(ssl_context=httpx.create_ssl_context, max_connections=10,
                      max_keepalive_connections=2, keepalive_expiry=0.2)
    async with serving(answer) as server, client_over(pool) as client:
        three = asyncio.gather(*(client.get(server.url) for _ in range(3)))
        await asyncio.sleep(0.1)
        gate.set()
        assert [r.status_code for r in await three] == [304] * 3
        # Three connections, one past max_keepalive_connections: closed once idle.
        assert server.connections == 3 and len(pool.connections) == 2
        await asyncio.wait_for(asyncio.wait([asyncio.create_task(e.wait())
                                             for e in server.ended.values()],
                                            return_when=asyncio.FIRST_COMPLETED), 5)
        await client.get(server.url)
        assert server.connections == 3  # an idle one was reused
        await asyncio.sleep(0.3)  # past keepalive_expiry
        await client.get(server.url)
        assert server.connections == 4 and len(pool.connections) == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(NOT_MODIFIED)
        await writer.drain()
        writer.close()  # one answer a connection

    pool = SourcePool(ssl_context=httpx.create_ssl_context, max_connections=10,
                      max_keepalive_connections=10, keepalive_expiry=5)
    async with serving(answer) as server, client_over(pool) as client:
        for _ in range(3):
            assert (await client.get(server.url)).status_code == 304
            await asyncio.sleep(0.05)
    assert server.connections == 3


async def test_requests_cancelled_while_queued_for_a_full_pool_leave_no_connection_behind() -> None:
    # encode/httpcore#1093: cancelled after the pool made it a new connection and before
    # opening it, a request left that connection in the pool for good; with max_connections
    # of them every later request waited for a place and ended in PoolTimeout.
    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_304s(reader, writer)

    pool = SourcePool(ssl_context=httpx.create_ssl_context, max_connections=1,
                      max_keepalive_connections=1, keepalive_expiry=5)
    async with serving(answer) as server, client_over(
            pool, httpx.Timeout(5, pool=0.5)) as client:
        for _ in range(3):
            tasks = [asyncio.create_task(client.get(server.url)) for _ in range(2)]
            await asyncio.sleep(0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert pool.connections == [] and pool._requests == []
        assert (await client.get(server.url)).status_code == 304



@pytest.mark.parametrize(("status", "reused"), [(304, True), (204, True), (200, False)])
async def test_a_response_closed_unread_keeps_its_connection_only_when_it_had_no_body(
        status: int, reused: bool) -> None:
    # A 304 or 204 ends with its headers (RFC 9110), so closing it unread leaves nothing
    # on the connection; a 200's unread body would be read as the next answer's start.
    head = {304: b"304 Not Modified", 204: b"204 No Content", 200: b"200 OK"}[status]
    length = b"Content-Length: 5\r\n" if status == 200 else b""

    async def answer(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 " + head + b"\r\n" + length + b"\r\n"
                         + (b"<rss>" if status == 200 else b""))
            await writer.drain()

    pool = SourcePool(ssl_context=httpx.create_ssl_context, max_connections=10,
                      max_keepalive_connections=10, keepalive_expiry=5)
    async with serving(answer) as server, client_over(pool) as client:
        for _ in range(2):
            async with client.stream("GET", server.url) as response:
                assert response.status_code == status
        final = await client.get(server.url)
    assert final.status_code == status
    assert server.connections == (1 if reused else 3)
