"""httpcore's connection pool and HTTP/1.1 connections on asyncio's own primitives, for the
sources' feeds (the network under them is ``bot.ingest.aionet``'s).

httpcore guards its pool's and connections' state with its AsyncLock, AsyncEvent and
AsyncShieldCancellation, which under asyncio wrap anyio's: the first request imports anyio's
asyncio backend (~20 ms of CPU) and every request takes some fifteen anyio locks, events and
cancel scopes. Worse, anyio's lock and event yield to the event loop even when they have
nothing to wait for, and in that gap another request's sweep of the pool sees the connection
just handed out as still idle and hands it out again: the loser gets ConnectionNotAvailable
and sweeps again (686 sweeps for 200 warm fetches, where 400 do).

Here the connections this pool opens take ``asyncio.Lock``, a request waits for its
connection on an asyncio future, and neither yields unless it must wait; a close that must
not be cut short (a response's, so that its connection goes back to the pool or is closed,
never left half-way) runs under ``shielded``. Nothing of httpcore's is patched: the classes
below are httpcore 1.0's (BSD-3-Clause, encode/httpcore) with those primitives swapped, the
same states, errors and order of events; other pools (``bot.urlpolicy``'s) are untouched.

Two differences, on purpose: a request cancelled while it waited for a connection takes the
new connection made for it out of the pool (httpcore leaves it there for good:
encode/httpcore#1093), and a response that has no body by HTTP's rules (a 204 or 304, an
answer to HEAD) keeps its connection when it is closed unread (httpcore closes it).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import types
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Generator
from typing import Any

import h11
import httpcore
from httpcore._async.connection import AsyncHTTPConnection
from httpcore._async.connection_pool import AsyncPoolRequest, PoolByteStream
from httpcore._async.http11 import (
    AsyncHTTP11Connection,
    AsyncHTTP11UpgradeStream,
    HTTP11ConnectionByteStream,
    HTTPConnectionState,
)
from httpcore._async.interfaces import AsyncConnectionInterface
from httpcore._exceptions import ConnectionNotAvailable, map_exceptions

from bot.ingest.aionet import AsyncioBackend

#: httpcore's own HTTP/1.1 code logs each step here at DEBUG and reports them to httpx's
#: "trace" extension; while either is listening, its own code runs (``_HTTP11Connection``).
_HTTP11_LOG = logging.getLogger("httpcore.http11")
#: Where a connection stands for a sweep of the pool (``_Connection.swept``).
_BUSY, _IDLE, _EXPIRED, _GONE = range(4)
_IDLE_STATE = HTTPConnectionState.IDLE
_CLOSED_STATE = HTTPConnectionState.CLOSED


async def shielded(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even if this task is cancelled meanwhile; the cancellation
    then carries on. What httpcore's AsyncShieldCancellation is for (anyio's shield, under
    asyncio, does not hold against a second ``task.cancel()``; this does).

    A close almost never waits (asyncio's transports close at once, these locks are free),
    so ``work`` is started here and, when it finishes without waiting, that is all. Should
    it wait, it finishes in a task of its own, which a cancellation of this one cannot
    reach, and this task waits for it.
    """
    try:
        waiting_on = work.send(None)
    except StopIteration:
        return
    task = asyncio.get_running_loop().create_task(_carry_on(work, waiting_on))
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.done():
                break
            cancelled = exc  # ours, not the close's: finish the close first
    if cancelled is not None:
        raise cancelled
    task.result()  # the close's own error, if it had one


@types.coroutine
def _carry_on(work: Coroutine[Any, Any, None], waiting_on: Any) -> Generator[Any, Any, None]:
    """``work``, begun elsewhere and waiting on ``waiting_on`` (what it yielded to the event
    loop), carried on by the task that runs this: it waits on the same thing, then resumes
    ``work`` as the task that began it would have."""
    yield waiting_on
    yield from work


class _PoolRequest(AsyncPoolRequest):
    """A request waiting in the pool for a connection, on an asyncio future."""

    def __init__(self, request: httpcore.Request) -> None:
        self.request = request
        self.connection: _Connection | None = None
        self._waiter: asyncio.Future[None] | None = None

    def assign_to_connection(self, connection: AsyncConnectionInterface | None) -> None:
        assert connection is None or isinstance(connection, _Connection)
        self.connection = connection
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear_connection(self) -> None:
        self.connection = None

    async def wait_for_connection(self, timeout: float | None = None
                                  ) -> AsyncConnectionInterface:
        if self.connection is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._waiter
            except TimeoutError as exc:
                raise httpcore.PoolTimeout(exc) from exc
            finally:
                self._waiter = None
        assert self.connection is not None
        return self.connection


class SourcePool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool over ``AsyncioBackend``, with its connections on asyncio's
    primitives and its per-request sweep of the pool made linear.

    On every request (and every response closed) httpcore's pool sweeps its connections and,
    for each idle one, counts the pool again (``len([c.is_idle() for c in connections])``:
    the length of the pool, as it happens, not the number idle). With 16 connections to one
    feed server that was 256 calls a sweep. The sweep below
    (``_assign_requests_to_connections``) closes, reuses and opens the same connections in
    the same order, asking each connection once.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext],
                 max_connections: int | None, max_keepalive_connections: int | None,
                 keepalive_expiry: float | None) -> None:
        """``ssl_context``: the TLS context, or how to build it. Built, it waits for the first
        https request: loading a CA bundle is ~20 ms of CPU, which a poll of plain-http
        feeds has no use for."""
        built: ssl.SSLContext | None = None
        self._build_ssl_context: Callable[[], ssl.SSLContext] | None = None
        if isinstance(ssl_context, ssl.SSLContext):
            built = ssl_context
        else:
            self._build_ssl_context = ssl_context
        super().__init__(ssl_context=built, max_connections=max_connections,
                         max_keepalive_connections=max_keepalive_connections,
                         keepalive_expiry=keepalive_expiry, network_backend=AsyncioBackend())

    _connections: list[_Connection]  # type: ignore[assignment]  # create_connection's only

    def create_connection(self, origin: httpcore.Origin) -> _Connection:
        # No proxy here (httpx mounts proxies as transports of their own), no HTTP/2, no
        # Unix socket: httpcore's plain connection, on asyncio's primitives.
        return _Connection(origin=origin, ssl_context=self._ssl_context,
                           keepalive_expiry=self._keepalive_expiry, http1=self._http1,
                           http2=self._http2, retries=self._retries,
                           local_address=self._local_address, uds=self._uds,
                           network_backend=self._network_backend,
                           socket_options=self._socket_options)

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        # Before the request joins the pool: every https connection the pool opens gets this
        # context (httpcore would otherwise fall back to its own, certifi only), and a
        # context that cannot be built (an unreadable SSL_CERT_FILE) fails this request
        # alone, with nothing of the pool's to unwind. The event loop's one thread builds it.
        scheme = request.url.scheme
        if self._ssl_context is None and scheme in (b"https", b"wss"):
            assert self._build_ssl_context is not None
            self._ssl_context = self._build_ssl_context()
        # From here on httpcore's, with _PoolRequest and _PoolByteStream, and without its
        # thread lock (a no-op under async).
        if not scheme:
            raise httpcore.UnsupportedProtocol(
                "Request URL is missing an 'http://' or 'https://' protocol.")
        if scheme not in (b"http", b"https", b"ws", b"wss"):
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme.decode()}://'.")
        timeout = request.extensions.get("timeout", {}).get("pool", None)
        pool_request = _PoolRequest(request)
        self._requests.append(pool_request)
        try:
            while True:
                await self._close_connections(self._assign_requests_to_connections())
                connection = await pool_request.wait_for_connection(timeout=timeout)
                try:
                    response = await connection.handle_async_request(pool_request.request)
                except ConnectionNotAvailable:
                    # It was available when assigned, and no longer is: try again.
                    pool_request.clear_connection()
                else:
                    break
        except BaseException as exc:
            # For any error or cancellation the request leaves the queue, and the others
            # are assigned again.
            self._requests.remove(pool_request)
            orphan = pool_request.connection
            if orphan is not None and orphan.never_opened() and orphan in self._connections:
                # Cancelled after the pool made it a new connection and before that was
                # opened: nothing would ever open or close it, and httpcore leaves it in the
                # pool, holding a place for good (encode/httpcore#1093; enough of them and
                # every request ends in PoolTimeout). It leaves with its request.
                self._connections.remove(orphan)
            await self._close_connections(self._assign_requests_to_connections())
            raise exc from None
        assert isinstance(response.stream, AsyncIterable)
        # httpcore builds a second Response around the same status, headers and extensions
        # (checking each header again); the body is all that changes.
        response.stream = _PoolByteStream(stream=response.stream, pool_request=pool_request,
                                          pool=self)
        return response

    async def _close_connections(self, closing: list[AsyncConnectionInterface]) -> None:
        # httpcore calls this after every sweep, and shields it even when there is nothing
        # to close (almost always).
        if closing:
            await shielded(_close_all(closing))

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        # httpcore's sweep, in the same order with the same outcome: the closed connections
        # leave the pool; the idle ones whose keep-alive is over, whose server hung up, or
        # beyond max_keepalive are closed; then each queued request gets the first idle
        # connection to its origin, else a new connection while there is room, else the
        # first idle connection is closed to make room for a new one. Where httpcore asks
        # each connection three or four questions (two calls deep each) and walks the pool
        # again per queued request, each connection here is asked once (``swept``), and
        # only an idle connection is available: this pool speaks HTTP/1.1 only (httpcore's
        # "available" is "idle" for HTTP/1.1).
        closing_connections: list[AsyncConnectionInterface] = []
        connections = self._connections
        idle: list[_Connection] = []
        now = time.monotonic()
        for connection in list(connections):
            state = connection.swept(now)
            if state == _GONE:
                connections.remove(connection)
            elif state != _BUSY:
                if state == _EXPIRED or len(connections) > self._max_keepalive_connections:
                    connections.remove(connection)
                    closing_connections.append(connection)
                else:
                    idle.append(connection)

        for pool_request in [request for request in self._requests
                             if request.connection is None]:
            origin = pool_request.request.url.origin
            available = next((c for c in idle if c._origin == origin), None)
            if available is not None:
                pool_request.assign_to_connection(available)
                continue
            if len(connections) < self._max_connections:
                pass
            elif idle:
                closed = idle.pop(0)
                connections.remove(closed)
                closing_connections.append(closed)
            else:
                continue  # it waits for a connection to come free
            connection = self.create_connection(origin)
            connections.append(connection)
            pool_request.assign_to_connection(connection)

        return closing_connections


async def _close_all(connections: list[AsyncConnectionInterface]) -> None:
    for connection in connections:
        await connection.aclose()


class _PoolByteStream(PoolByteStream):
    """A response's body from the pool: closing it closes the response (shielded), then
    gives its connection back to the pool."""

    _pool: SourcePool

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            stream_close = getattr(self._stream, "aclose", None)
            if stream_close is not None:
                await shielded(stream_close())
            pool = self._pool
            pool._requests.remove(self._pool_request)
            await pool._close_connections(pool._assign_requests_to_connections())


class _Connection(AsyncHTTPConnection):
    """httpcore's connection to one origin, whose lock is asyncio's and whose HTTP/1.1
    exchange is ``_HTTP11Connection``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._request_lock = asyncio.Lock()  # type: ignore[assignment]

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} on "
                               f"connection to {self._origin}")
        try:
            async with self._request_lock:
                if self._connection is None:
                    stream = await self._connect(request)
                    ssl_object = stream.get_extra_info("ssl_object")
                    if ((ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2")
                            or (self._http2 and not self._http1)):
                        # Never asked for by this pool (httpx's http2=False); httpcore's own.
                        from httpcore._async.http2 import AsyncHTTP2Connection

                        self._connection = AsyncHTTP2Connection(
                            origin=self._origin, stream=stream,
                            keepalive_expiry=self._keepalive_expiry)
                    else:
                        self._connection = _HTTP11Connection(
                            origin=self._origin, stream=stream,
                            keepalive_expiry=self._keepalive_expiry)
        except BaseException as exc:
            self._connect_failed = True
            raise exc
        return await self._connection.handle_async_request(request)

    def never_opened(self) -> bool:
        """Made for a request that never began to open it (an attempt that failed counts as
        closed: httpcore's is_closed)."""
        return self._connection is None and not self._connect_failed

    def swept(self, now: float) -> int:
        """Where this connection stands for a sweep of the pool: gone (closed, or its
        connect failed: httpcore's is_closed), expired (idle, and its keep-alive is over or
        its server hung up: has_expired), idle, or busy (connecting, or in a request)."""
        inner = self._connection
        if type(inner) is _HTTP11Connection:
            state = inner._state
            if state is _IDLE_STATE:
                if ((inner._expire_at is not None and now > inner._expire_at)
                        or inner._network_stream.get_extra_info("is_readable")):
                    return _EXPIRED
                return _IDLE
            return _GONE if state is _CLOSED_STATE else _BUSY
        if self.is_closed():
            return _GONE
        if self.is_idle():
            return _EXPIRED if self.has_expired() else _IDLE
        return _BUSY


class _HTTP11Connection(AsyncHTTP11Connection):
    """httpcore's HTTP/1.1 connection, its state lock asyncio's and its closes shielded by
    ``shielded``; without httpcore's per-step trace (five context managers a request) unless
    someone is listening, when httpcore's own code runs."""

    def __init__(self, origin: httpcore.Origin, stream: httpcore.AsyncNetworkStream,
                 keepalive_expiry: float | None = None) -> None:
        super().__init__(origin, stream, keepalive_expiry)
        self._state_lock = asyncio.Lock()  # type: ignore[assignment]
        self._bodiless = False  # the response under way has no body, by HTTP's rules

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if "trace" in request.extensions or _HTTP11_LOG.isEnabledFor(logging.DEBUG):
            response = await super().handle_async_request(request)
        else:
            response = await self._exchange(request)
        # RFC 9110: a 204 or 304, or any answer to HEAD, ends with its headers (h11 frames
        # it so), whatever its headers say.
        self._bodiless = response.status in (204, 304) or request.method == b"HEAD"
        return response

    async def _response_closed(self) -> None:
        # A response without a body is over once its headers are in; h11 has just not been
        # asked for its end (reading the empty body would ask). Asked here, closing such a
        # response unread gives its connection back to the pool instead of closing it: a
        # warm poll's 304s need not be read through httpx's five layers of streams.
        bodiless, self._bodiless = self._bodiless, False
        if bodiless and self._h11_state.their_state is h11.SEND_BODY:
            with map_exceptions({h11.RemoteProtocolError: httpcore.RemoteProtocolError}):
                self._h11_state.next_event()  # EndOfMessage: nothing to read for it
        await super()._response_closed()

    async def _exchange(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} on "
                               f"connection to {self._origin}")
        async with self._state_lock:
            if self._state in (HTTPConnectionState.NEW, HTTPConnectionState.IDLE):
                self._request_count += 1
                self._state = HTTPConnectionState.ACTIVE
                self._expire_at = None
            else:
                raise ConnectionNotAvailable()
        try:
            try:
                await self._send_request_headers(request)
                await self._send_request_body(request)
            except httpcore.WriteError:
                # As httpcore: a server may close early and still send a good response.
                pass
            (http_version, status, reason_phrase, headers,
             trailing_data) = await self._receive_response_headers(request)
            network_stream = self._network_stream
            if status == 101 or (request.method == b"CONNECT" and 200 <= status < 300):
                network_stream = AsyncHTTP11UpgradeStream(network_stream, trailing_data)
            return httpcore.Response(
                status=status, headers=headers, content=_HTTP11ByteStream(self, request),
                extensions={"http_version": http_version, "reason_phrase": reason_phrase,
                            "network_stream": network_stream})
        except BaseException as exc:
            await shielded(self._response_closed())
            raise exc


class _HTTP11ByteStream(HTTP11ConnectionByteStream):
    """A response body over ``_HTTP11Connection``: closed (shielded) on any error."""

    _connection: _HTTP11Connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._connection._receive_response_body(request=self._request):
                yield chunk
        except BaseException as exc:
            await shielded(self.aclose())
            raise exc

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._connection._response_closed()
