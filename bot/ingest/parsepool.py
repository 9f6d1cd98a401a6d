"""Parsing under a time budget: a feed that takes too long is stopped, never waited for.

Small feeds (nearly all: tens of items, tens of KB) are parsed in-process, in a thread: that
costs ~5 ms, where starting another process would cost more than the parse, and a small body
bounds the worst case (feedparser at ~25 µs per element: well under a second for
``IN_PROCESS_BYTES``). When many arrive at once (a poll of hundreds of feeds), they go to one
kept parser process instead, so parsing runs beside the event loop on another core
(``parsequeue.py``). Larger bodies go to a pool of parser processes (``parseworker.py``),
started on first need and kept; one that overruns ``fetch.parse_timeout`` is killed and
replaced, and the feed fails with the reason (so the source backs off, and a hostile feed
costs at most the budget of CPU per poll).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.errors import SourceError
from bot.ingest import parseworker
from bot.ingest.parseworker import Parsed
from bot.ingest.urls import strip_userinfo

if TYPE_CHECKING:
    from bot.ingest.parse import ParsedFeed
    from bot.ingest.parsequeue import SerialParser

IN_PROCESS_BYTES = 128 * 1024  # bodies up to this size are parsed in-process
POOL_SIZE = 2
_START_TIMEOUT = 60.0  # seconds for a new worker's imports (a loaded machine is slow)
#: Small feeds parsed in-process while others waited their turn, after which the parser
#: process for small feeds starts: a poll of a few feeds parses them sooner than a process
#: starts (~0.2 s of CPU), so it starts only once feeds keep queueing up.
QUEUE_AFTER = 16
#: Small feeds waiting for that process beyond which the next is parsed in-process.
QUEUE_MAX = 64


class WorkerNotStarted(RuntimeError):
    """A parser process did not start (or did not say it was ready in time)."""


class _Overrun(Exception):
    pass


class _Worker:
    def __init__(self) -> None:
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.ingest.parseworker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        except OSError as exc:
            raise WorkerNotStarted(f"a parser process did not start: {exc}") from None
        assert self.process.stdout is not None and self.process.stdin is not None
        self.replies = self.process.stdout
        self.requests = self.process.stdin

    def wait_ready(self) -> None:
        """Wait for the worker's imports (its ready byte); WorkerNotStarted if none comes."""
        ready = self._wait_readable(time.monotonic() + _START_TIMEOUT)
        if ready and self.replies.read(1) == b"R":
            return
        self.kill()
        raise WorkerNotStarted("a parser process did not start")

    def _wait_readable(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        return left > 0 and bool(select.select([self.replies], [], [], left)[0])

    def call(self, request: Mapping[str, Any], budget: float) -> Any:
        """Send one request and wait at most ``budget`` seconds for its reply."""
        parseworker.write_message(self.requests, dict(request))
        if not self._wait_readable(time.monotonic() + budget):
            raise _Overrun
        # The reply is written in one go once the parse is done: reading it is quick.
        reply = parseworker.read_message(self.replies)
        if reply is None:
            raise EOFError("the parser process ended")
        return reply

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for stream in (self.requests, self.replies):
            with contextlib.suppress(OSError):
                stream.close()


class ParserPool:
    """Up to ``size`` parser processes, shared by every poll of this process."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()  # idle, busy or starting: all stopped by close()
        self._closed = False
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def _start(self) -> _Worker:
        worker = _Worker()
        with self._lock:
            closed = self._closed
            if not closed:
                self._live.add(worker)
        if closed:
            worker.kill()
            raise WorkerNotStarted("the parser pool is closed")
        try:
            worker.wait_ready()
        except WorkerNotStarted:
            self._discard(worker)
            raise
        return worker

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._live.discard(worker)

    def parse(self, budget: float, request: Mapping[str, Any]) -> ParsedFeed:
        """Parse in a worker process (blocking: call it from a thread). Raises SourceError
        when the parse overruns ``budget`` seconds (the worker is killed) or fails."""
        return self.run(budget, request).feed

    def run(self, budget: float, request: Mapping[str, Any]) -> Parsed:
        """``parse``, with the items as fed when the request asks (``parseworker.Parsed``)."""
        source_id, shown = request["source_id"], strip_userinfo(request["url"])
        if not self._slots.acquire(timeout=budget):
            raise SourceError(source_id, f"{shown}: no parser was free within {budget:g} s "
                              "(other large feeds were being parsed); will retry")
        try:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is not None and worker.process.poll() is not None:
                self._discard(worker)
                worker = None
            if worker is None:
                worker = self._start()
            try:
                status, value = worker.call(request, budget)
            except _Overrun:
                self._discard(worker)
                raise SourceError(
                    source_id,
                    f"{shown} took more than {budget:g} s to parse and was stopped (a hostile "
                    "or broken feed?); raise fetch.parse_timeout if the feed is sound",
                    retryable=False) from None
            except (OSError, EOFError, ValueError) as exc:
                self._discard(worker)
                raise SourceError(source_id, f"{shown}: the parser process failed ({exc}); "
                                  "will retry") from None
            with self._lock:
                self._idle.append(worker)
        finally:
            self._slots.release()
        if status == "error":
            error_source, problem, retryable = value
            raise SourceError(error_source, problem, retryable=retryable)
        result: Parsed = value
        return result

    def warm_up(self) -> None:
        """Start a worker now, so the first parse does not wait for its imports."""
        worker = self._start()
        with self._lock:
            self._idle.append(worker)

    def close(self) -> None:
        """Stop every worker: idle, busy (its parse fails) or still starting."""
        with self._lock:
            self._closed = True
            live, self._live, self._idle = self._live, set(), []
        for worker in live:
            worker.kill()


_pool: ParserPool | None = None
_serial: SerialParser | None = None
_pool_pid = 0  # the process that started the workers (a forked child starts its own)
_pool_lock = threading.Lock()
_in_process = 0  # small feeds waiting for, or in, an in-process parse
_contended = 0  # small feeds parsed in-process while another was waiting or in its parse


def _shared() -> tuple[ParserPool, SerialParser]:
    from bot.ingest.parsequeue import SerialParser

    global _pool, _serial, _pool_pid
    with _pool_lock:
        if _pool is None or _serial is None or _pool_pid != os.getpid():
            _pool, _serial, _pool_pid = ParserPool(), SerialParser(), os.getpid()
        return _pool, _serial


@atexit.register
def _close_pool() -> None:
    if _pool_pid == os.getpid():
        for kept in (_pool, _serial):
            if kept is not None:
                kept.close()


async def parse_within(budget: float, source_id: str, body: bytes, *, url: str,
                       headers: Mapping[str, str] | None = None, language: str = "",
                       as_fed: bool = False) -> Parsed:
    """``parse_feed`` that gives up after ``budget`` seconds with a SourceError, never
    blocking the event loop. ``as_fed``: a parser process also works out each item as
    ``enrich.as_fed`` makes it (an in-process parse leaves that to the caller)."""
    global _in_process, _contended
    request = {"source_id": source_id, "body": body, "url": url,
               "headers": dict(headers or {}), "language": language}
    pool, serial = _shared()
    if len(body) > IN_PROCESS_BYTES:
        return await asyncio.to_thread(pool.run, budget, {**request, "as_fed": as_fed})
    if serial.ready and serial.waiting < QUEUE_MAX:
        return await asyncio.wrap_future(serial.submit(budget, {**request, "as_fed": as_fed}))
    # Imported here: the parsers (feedparser, fastfeedparser) load on the first body to
    # parse, so a poll whose feeds all answer 304 never loads them.
    from bot.ingest.parse import parse_feed

    _in_process += 1
    try:
        if _in_process > 1:
            _contended += 1
            if _contended >= QUEUE_AFTER:
                serial.start()  # feeds keep queueing up: the next go to a parser process
        return Parsed(await asyncio.to_thread(parse_feed, **request))  # type: ignore[arg-type]
    finally:
        _in_process -= 1
