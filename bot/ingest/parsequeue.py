"""Many small feeds parsed in one kept parser process, in arrival order, off the event loop.

A small feed parsed in-process (``parsebudget``) holds the GIL for its few ms, and on a poll of
hundreds of feeds that is time the event loop (fetching, storing) waits for. When feeds
queue up to be parsed, ``SerialParser`` starts one parser process (``parseworker.py``; its
~0.15 s of imports overlap the fetches) and hands it the small feeds in order, a few ahead
of the one it is parsing (``_pipeline``): parsing then runs on another core, and the loop
only unpickles the items (~0.15 ms a feed). A poll with few feeds, or none to parse (all
304), never starts it.

A feed's time budget (``fetch.parse_timeout``) runs from the moment its parse starts, not
while it waits its turn; one that overruns is stopped as in the pool (the process is
killed; the feeds handed over behind it go to a new one). Should no parser process start,
feeds are parsed in-process as before.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from bot.errors import SourceError
from bot.ingest.parsepool import (
    WORKER_FAILURES,
    ParserPool,
    WorkerNotStarted,
    _Overrun,
    _Worker,
    overrun,
    parsed_from,
    worker_failed,
)
from bot.ingest.parseworker import Parsed, parse

log = logging.getLogger("newsbot.ingest")

_Job = tuple[float, dict[str, Any], "Future[Parsed]"]
#: Feeds handed to the parser process beyond the one it is parsing (see ``_pipeline``).
AHEAD = 4


class SerialParser:
    """One parser process and the thread that feeds it (both started by ``start``)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._pool = ParserPool(size=1)
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._failed = False  # the process did not start: submit() says so
        self._waiting = 0  # submitted, not yet answered

    @property
    def ready(self) -> bool:
        """True once the parser process is up (it takes feeds only then)."""
        return self._ready.is_set()

    @property
    def started(self) -> bool:
        """True once ``start`` was called (the process may still be importing)."""
        return self._started

    @property
    def waiting(self) -> int:
        """Feeds submitted and not yet parsed."""
        return self._waiting

    def start(self) -> None:
        """Start the parser process and its feeding thread, unless already started."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._feed, name="newsbot-parser", daemon=True).start()

    def submit(self, budget: float, request: Mapping[str, Any]) -> Future[Parsed] | None:
        """Queue one feed (``parse_feed``'s keyword arguments, and ``as_fed``); its future
        gives the ``Parsed`` feed or raises the parse's ``SourceError``. Call once
        ``started``: feeds queued while the process starts wait for it (and are parsed
        in-process, in the feeding thread, should it not start). None when it did not
        start: parse the feed some other way."""
        future: Future[Parsed] = Future()
        with self._lock:
            if self._failed:
                return None
            self._waiting += 1
            self._jobs.put((budget, dict(request), future))
        return future

    def close(self) -> None:
        """Stop the parser process (also one still starting) and the feeding thread."""
        self._closed = True
        self._jobs.put(None)
        self._pool.close()

    def _feed(self) -> None:
        try:
            self._pool.warm_up()
        except WorkerNotStarted as exc:
            if not self._closed:
                log.warning("no parser process started (%s): feeds are parsed in-process", exc)
            self._parse_the_rest_here([])
            return
        self._ready.set()
        self._pipeline()

    def _pipeline(self) -> None:
        """Hand the queued feeds to the parser process, up to ``AHEAD`` beyond the one it is
        parsing, and answer each as its reply comes. A worker that waited for each next
        feed until this thread had taken its last reply (this process's GIL: the event loop
        holds it most of the time) sat idle for as long as it parsed: 4.7 ms a feed one by
        one, 3.3–3.6 ms pipelined.

        Each feed's budget runs from when its parse starts: its hand-over, or the reply before
        it, whichever is later. The feed that overruns is stopped with its process; the feeds
        handed over behind it go to the next process, with their budgets from then."""
        inflight: deque[_Job] = deque()  # handed over, in the worker's order
        held: _Job | None = None  # taken from the queue, not yet handed over
        worker = None
        closing = False
        parse_from = 0.0  # when the first feed in flight began its parse
        while True:
            while not closing and len(inflight) <= AHEAD:
                if held is None:
                    try:
                        held = self._jobs.get(block=not inflight)
                    except queue.Empty:
                        break
                    if held is None:
                        closing = True
                        break
                    if not held[2].set_running_or_notify_cancel():  # its poll gave up
                        held = None
                        self._done()
                        continue
                if worker is None:
                    worker = self._worker_for(inflight)
                    if worker is None:  # none starts: the rest are parsed here
                        self._parse_the_rest_here([*inflight, held])
                        return
                if not inflight:
                    parse_from = time.monotonic()
                try:
                    sent = worker.send(held[1], unless_it_waits=True)
                except WORKER_FAILURES:  # the process is gone: the feeds it had go to the next
                    self._pool.discard(worker)
                    worker = self._worker_for(inflight) if inflight else None
                    if worker is None and inflight:
                        self._parse_the_rest_here([*inflight, held])
                        return
                    continue
                if not sent:
                    break  # no room in the pipe: after the next reply
                inflight.append(held)
                held = None
            if not inflight:
                if closing:
                    if worker is not None:
                        self._pool.give_back(worker)
                    return
                continue  # (a job held back always finds room once nothing is in flight)
            assert worker is not None
            budget, request, future = inflight[0]
            try:
                reply = worker.receive(parse_from + budget)
            except (_Overrun, *WORKER_FAILURES) as exc:
                self._pool.discard(worker)
                worker = None
                inflight.popleft()
                self._done()
                future.set_exception(overrun(request, budget) if isinstance(exc, _Overrun)
                                     else worker_failed(request, exc))
                if inflight:  # handed to the stopped process: the next one parses them
                    worker = self._worker_for(inflight)
                    if worker is None:
                        self._parse_the_rest_here([*inflight, *([held] if held else [])])
                        return
                    parse_from = time.monotonic()
                continue
            parse_from = time.monotonic()
            inflight.popleft()
            self._done()  # (before the answer: whoever awaits it may ask ``waiting`` at once)
            try:
                future.set_result(parsed_from(reply))
            except SourceError as failure:  # the feed's own failure, for its poll to report
                future.set_exception(failure)

    def _worker_for(self, inflight: deque[_Job]) -> _Worker | None:
        """A parser process with the feeds ``inflight`` handed to it again, in order (those
        the pipe has no room for wait, in order, for the next reply); None if none starts."""
        try:
            worker = self._pool.take()
            for _, request, _ in inflight:
                worker.send(request)
        except (WorkerNotStarted, *WORKER_FAILURES):
            return None
        return worker

    def _parse_the_rest_here(self, taken: list[_Job]) -> None:
        """No parser process: ``taken`` (their futures running) and every feed still queued
        are parsed in this thread, in-process, as they would have been without the queue;
        from now on submit() refuses."""
        with self._lock:
            self._failed = True
        for _, request, future in taken:
            self._settle(future, request)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None and job[2].set_running_or_notify_cancel():
                self._settle(job[2], job[1])
            elif job is not None:
                self._done()

    def _settle(self, future: Future[Parsed], request: dict[str, Any]) -> None:
        # Counted as answered before the answer is given: whoever awaits it may ask
        # ``waiting`` at once.
        try:
            parsed = parse(request)
        except BaseException as exc:  # the feed's own failure, for its poll to report
            self._done()
            future.set_exception(exc)
        else:
            self._done()
            future.set_result(parsed)

    def _done(self) -> None:
        with self._lock:
            self._waiting -= 1
