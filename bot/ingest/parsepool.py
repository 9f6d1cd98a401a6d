"""Parser processes that can be stopped: a feed that takes too long is killed, never waited for.

A pool of processes (``parseworker.py``), started on first need and kept, each parsing one
feed at a time. One that overruns its budget (``fetch.parse_timeout``) is killed and
replaced, and the feed fails with the reason (so the source backs off, and a hostile feed
costs at most the budget of CPU per poll). Which feed is parsed where is
``parsebudget.py``'s choice.
"""

from __future__ import annotations

import contextlib
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

IN_PROCESS_BYTES = 128 * 1024  # bodies up to this size are parsed in-process
POOL_SIZE = 2
_START_TIMEOUT = 60.0  # seconds for a new worker's imports (a loaded machine is slow)


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
