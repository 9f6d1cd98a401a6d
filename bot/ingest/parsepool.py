"""Parser processes that can be stopped: a feed that takes too long is killed, never waited for.

A pool of processes (``parseworker.py``), started on first need and kept, each parsing one
feed at a time. One that overruns its budget (``fetch.parse_timeout``) is killed and
replaced, and the feed fails with the reason (so the source backs off, and a hostile feed
costs at most the budget of CPU per poll). Which feed is parsed where is
``parsebudget.py``'s choice.
"""

from __future__ import annotations

import contextlib
import pickle
import select
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

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


#: How a parser process that broke shows itself to the process feeding it.
WORKER_FAILURES = (OSError, EOFError, ValueError)


def overrun(request: Mapping[str, Any], budget: float) -> SourceError:
    """The feed that kept its parser process past ``budget`` seconds (the process is stopped)."""
    return SourceError(
        request["source_id"],
        f"{strip_userinfo(request['url'])} took more than {budget:g} s to parse and was stopped "
        "(a hostile or broken feed?); raise fetch.parse_timeout if the feed is sound",
        retryable=False)


def worker_failed(request: Mapping[str, Any], exc: BaseException) -> SourceError:
    return SourceError(request["source_id"], f"{strip_userinfo(request['url'])}: the parser "
                       f"process failed ({exc}); will retry")


def parsed_from(reply: Any) -> Parsed:
    """A worker's reply: the feed parsed, or raised as the feed's SourceError."""
    status, value = reply
    if status == "error":
        error_source, problem, retryable = value
        raise SourceError(error_source, problem, retryable=retryable)
    result: Parsed = value
    return result


def _pipe_room(stream: IO[bytes]) -> int:
    """How many bytes the pipe to a worker holds unread: as large as Linux lets a user make
    it (1 MiB by default), so several feeds can wait in it; 16 KiB where that is unknown."""
    try:
        import fcntl

        set_size, get_size = fcntl.F_SETPIPE_SZ, fcntl.F_GETPIPE_SZ
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), set_size, 1 << 20)
        return int(fcntl.fcntl(stream.fileno(), get_size))
    except (ImportError, AttributeError, OSError):
        return 16 * 1024


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
        # Replies are read unbuffered: a buffered read could take in the start of the next
        # reply, which select() (the wait for it) would then never see.
        self._raw_replies = self.replies.raw  # type: ignore[attr-defined]
        self.room = _pipe_room(self.requests)
        self._sent: deque[int] = deque()  # the sizes of the requests not yet answered

    def wait_ready(self) -> None:
        """Wait for the worker's imports (its ready byte); WorkerNotStarted if none comes."""
        ready = self._wait_readable(time.monotonic() + _START_TIMEOUT)
        if ready and self._raw_replies.read(1) == b"R":
            return
        self.kill()
        raise WorkerNotStarted("a parser process did not start")

    def _wait_readable(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        return left > 0 and bool(select.select([self.replies], [], [], left)[0])

    def call(self, request: Mapping[str, Any], budget: float) -> Any:
        """Send one request and wait at most ``budget`` seconds for its reply."""
        self.send(request)
        return self.receive(time.monotonic() + budget)

    def send(self, request: Mapping[str, Any], *, unless_it_waits: bool = False) -> bool:
        """Hand over one request; the worker parses its requests in the order sent.

        ``unless_it_waits``: hand it over only if the pipe has room for it beside the requests
        not yet answered (else False, nothing sent), so the write cannot wait for the worker.
        A caller that writes ahead must not wait on a write: the worker may itself be waiting
        for the caller to read a large reply."""
        data = parseworker.encode_message(dict(request))
        if unless_it_waits and self._sent and sum(self._sent) + len(data) > self.room:
            return False
        self.requests.write(data)
        self.requests.flush()
        self._sent.append(len(data))
        return True

    def receive(self, deadline: float) -> Any:
        """The next reply, if it comes by ``deadline`` (``time.monotonic()``); else _Overrun."""
        if not self._wait_readable(deadline):
            raise _Overrun
        # The reply is written in one go once the parse is done: reading it is quick.
        header = self._read_exactly(parseworker.HEADER_SIZE)
        reply = pickle.loads(self._read_exactly(parseworker.body_size(header)))
        self._sent.popleft()
        return reply

    def _read_exactly(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = self._raw_replies.read(size)
            if not chunk:
                raise EOFError("the parser process ended")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

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
            self.discard(worker)
            raise
        return worker

    def discard(self, worker: _Worker) -> None:
        """Stop ``worker`` (overrun or broken) and forget it."""
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
            worker = self.take()
            try:
                reply = worker.call(request, budget)
            except _Overrun:
                self.discard(worker)
                raise overrun(request, budget) from None
            except WORKER_FAILURES as exc:
                self.discard(worker)
                raise worker_failed(request, exc) from None
            self.give_back(worker)
        finally:
            self._slots.release()
        return parsed_from(reply)

    def take(self) -> _Worker:
        """A started worker for the caller's own use, until it gives it back (``give_back``)
        or ``discard``s it; ``close`` stops it either way. WorkerNotStarted if none starts."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is not None and worker.process.poll() is None:
            return worker
        if worker is not None:
            self.discard(worker)
        return self._start()

    def give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    def warm_up(self) -> None:
        """Start a worker now, so the first parse does not wait for its imports."""
        self.give_back(self._start())

    def close(self) -> None:
        """Stop every worker: idle, busy (its parse fails) or still starting."""
        with self._lock:
            self._closed = True
            live, self._live, self._idle = self._live, set(), []
        for worker in live:
            worker.kill()
