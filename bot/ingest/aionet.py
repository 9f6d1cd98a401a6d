"""httpcore's network layer on asyncio's own transports, for fetching the sources' feeds.

Under asyncio, httpcore's default network layer is anyio's. It opens a cancel scope for
every read and write, and the connection pool asks each idle connection, on every request,
whether its server has hung up, through anyio's attribute lookup (a dict of lambdas built
per call). On a poll of hundreds of feeds that was about 40% of the CPU spent fetching.

This layer does the same job with an ``asyncio.Protocol``: a read takes what has arrived or
waits on one future, a timeout is ``asyncio.timeout`` (set only when a read must wait), and
"has the server hung up?" is a flag the protocol keeps. Its errors are httpcore's, raised
where the anyio layer raises them (ConnectError, ConnectTimeout, ReadError, ReadTimeout,
WriteError, WriteTimeout), so httpx reports them the same way. TLS is asyncio's
(``loop.start_tls``) with the context httpcore hands over, so certificates are checked as
before. The pool and connections over it are ``bot.ingest.aiopool``'s.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

#: Bytes received and not yet read past which the socket is not read until they are.
_PAUSE_AT = 1024 * 1024
_RESUME_AT = 256 * 1024
#: How long a host's first address gets before the next is tried too (as anyio does).
_HAPPY_EYEBALLS = 0.25


class _Receiver(asyncio.Protocol):
    """What arrived on one connection, and whether the server has finished with it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.eof = False
        self.error: Exception | None = None
        self.paused = False
        self.reader: asyncio.Future[None] | None = None  # a read waiting for data
        self.writer: asyncio.Future[None] | None = None  # a write waiting for a drain
        self.write_blocked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > _PAUSE_AT and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        _wake(self.reader)

    def eof_received(self) -> bool:
        self.eof = True
        _wake(self.reader)
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        _wake(self.reader)
        _wake(self.writer)

    def pause_writing(self) -> None:
        self.write_blocked = True

    def resume_writing(self) -> None:
        self.write_blocked = False
        _wake(self.writer)

    def take(self, max_bytes: int) -> bytes:
        chunk = self.chunks.popleft()
        if len(chunk) > max_bytes:
            self.chunks.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        self.size -= len(chunk)
        if self.paused and self.size < _RESUME_AT and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return chunk


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


async def _wait(future: asyncio.Future[None], seconds: float | None) -> None:
    """Wait for ``future``; TimeoutError after ``seconds`` (None: no limit)."""
    if seconds is None:
        await future
    else:
        async with asyncio.timeout(seconds):
            await future


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (or TLS) connection."""

    def __init__(self, transport: asyncio.Transport, receiver: _Receiver) -> None:
        self._transport = transport
        self._receiver = receiver

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        receiver = self._receiver
        if not receiver.chunks and not receiver.eof:
            receiver.reader = asyncio.get_running_loop().create_future()
            try:
                await _wait(receiver.reader, timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data within {timeout:g}s") from None
            finally:
                receiver.reader = None
        if receiver.chunks:
            return receiver.take(max_bytes)
        if receiver.error is not None:
            raise httpcore.ReadError(str(receiver.error) or type(receiver.error).__name__)
        return b""  # the server closed the connection

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        receiver = self._receiver
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        if not receiver.write_blocked:
            return
        receiver.writer = asyncio.get_running_loop().create_future()
        try:
            await _wait(receiver.writer, timeout)
        except TimeoutError:
            raise httpcore.WriteTimeout(f"could not send within {timeout:g}s") from None
        finally:
            receiver.writer = None
        if receiver.write_blocked and receiver.error is not None:
            raise httpcore.WriteError(str(receiver.error))

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport, self._receiver, ssl_context, server_hostname=server_hostname,
                ssl_handshake_timeout=timeout)
        except (TimeoutError, ConnectionAbortedError) as exc:  # the handshake timed out
            self._transport.close()
            raise httpcore.ConnectTimeout(str(exc) or "the TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from None
        if transport is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._receiver.transport = transport
        return AsyncioStream(transport, self._receiver)

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "is_readable":
            # Asked of an idle connection before it is reused: anything received, or an
            # end, means the server has hung up (or broken the protocol): not reusable.
            receiver = self._receiver
            return bool(receiver.chunks) or receiver.eof or transport.is_closing()
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens ``AsyncioStream`` connections (TCP only: a source URL is never a Unix socket)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        receiver = _Receiver()
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    lambda: receiver, host, port, happy_eyeballs_delay=_HAPPY_EYEBALLS,
                    local_addr=(local_address, 0) if local_address else None)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection within {timeout:g}s") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, receiver)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None
                                  = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a Unix socket is not supported here")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
