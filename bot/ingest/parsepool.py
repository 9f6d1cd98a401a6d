"""Parsing under a time budget: a feed that takes too long is stopped, never waited for.

Small feeds (nearly all: tens of items, tens of KB) are parsed in-process, in a thread: that
costs ~5 ms, where a round trip to another process would cost more than the parse, and a
small body bounds the worst case (feedparser at ~25 µs per element: well under a second for
``IN_PROCESS_BYTES``). Larger bodies go to a pool of parser processes (``parseworker.py``),
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
from bot.ingest.urls import strip_userinfo

if TYPE_CHECKING:
    from bot.ingest.parse import ParsedFeed

IN_PROCESS_BYTES = 128 * 1024  # bodies up to this size are parsed in-process
POOL_SIZE = 2
_START_TIMEOUT = 60.0  # seconds for a new worker's imports (a loaded machine is slow)


class _Overrun(Exception):
    pass


class _Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.ingest.parseworker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert self.process.stdout is not None and self.process.stdin is not None
        self.replies = self.process.stdout
        self.requests = self.process.stdin
        ready = self._wait_readable(time.monotonic() + _START_TIMEOUT)
        if ready and self.replies.read(1) == b"R":
            return
        self.kill()
        raise RuntimeError("a parser process did not start")

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
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def parse(self, budget: float, request: Mapping[str, Any]) -> ParsedFeed:
        """Parse in a worker process (blocking: call it from a thread). Raises SourceError
        when the parse overruns ``budget`` seconds (the worker is killed) or fails."""
        source_id, shown = request["source_id"], strip_userinfo(request["url"])
        if not self._slots.acquire(timeout=budget):
            raise SourceError(source_id, f"{shown}: no parser was free within {budget:g} s "
                              "(other large feeds were being parsed); will retry")
        try:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None or worker.process.poll() is not None:
                worker = _Worker()
            try:
                status, value = worker.call(request, budget)
            except _Overrun:
                worker.kill()
                raise SourceError(
                    source_id,
                    f"{shown} took more than {budget:g} s to parse and was stopped (a hostile "
                    "or broken feed?); raise fetch.parse_timeout if the feed is sound",
                    retryable=False) from None
            except (OSError, EOFError, ValueError) as exc:
                worker.kill()
                raise SourceError(source_id, f"{shown}: the parser process failed ({exc}); "
                                  "will retry") from None
            with self._lock:
                self._idle.append(worker)
        finally:
            self._slots.release()
        if status == "error":
            error_source, problem, retryable = value
            raise SourceError(error_source, problem, retryable=retryable)
        result: ParsedFeed = value
        return result

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_pool: ParserPool | None = None
_pool_pid = 0  # the process that started _pool's workers (a forked child starts its own)
_pool_lock = threading.Lock()


def _shared_pool() -> ParserPool:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = ParserPool(), os.getpid()
        return _pool


@atexit.register
def _close_pool() -> None:
    if _pool is not None and _pool_pid == os.getpid():
        _pool.close()


async def parse_within(budget: float, source_id: str, body: bytes, *, url: str,
                       headers: Mapping[str, str] | None = None,
                       language: str = "") -> ParsedFeed:
    """``parse_feed`` that gives up after ``budget`` seconds with a SourceError, never
    blocking the event loop."""
    request = {"source_id": source_id, "body": body, "url": url,
               "headers": dict(headers or {}), "language": language}
    if len(body) <= IN_PROCESS_BYTES:
        # Imported here: the parsers (feedparser, fastfeedparser) load on the first body to
        # parse, so a poll whose feeds all answer 304 never loads them.
        from bot.ingest.parse import parse_feed

        return await asyncio.to_thread(parse_feed, **request)  # type: ignore[arg-type]
    return await asyncio.to_thread(_shared_pool().parse, budget, request)
