"""Many small feeds parsed in one kept parser process, in arrival order, off the event loop.

A small feed parsed in-process (``parsebudget``) holds the GIL for its few ms, and on a poll of
hundreds of feeds that is time the event loop (fetching, storing) waits for. When feeds
queue up to be parsed, ``SerialParser`` starts one parser process (``parseworker.py``; its
~0.2 s of imports overlap the fetches) and, once it is ready, takes the small feeds one at a
time: parsing then runs on another core, and the loop only unpickles the items (~0.15 ms a
feed). A poll with few feeds, or none to parse (all 304), never starts it.

A feed's time budget (``fetch.parse_timeout``) runs from the moment its parse starts, not
while it waits its turn; one that overruns is stopped as in the pool (the process is
killed, the next feed gets a new one). Should no parser process start, feeds are parsed
in-process as before.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from bot.ingest.parsepool import ParserPool, WorkerNotStarted
from bot.ingest.parseworker import Parsed, parse

log = logging.getLogger("newsbot.ingest")

_Job = tuple[float, dict[str, Any], "Future[Parsed]"]


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
            with self._lock:
                self._failed = True  # from now on submit() refuses, so the queue only drains
            while True:  # the feeds queued while it was starting: parsed here instead
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    return
                if job is not None:
                    self._answer(job, lambda _budget, request: parse(request))
        self._ready.set()
        while (job := self._jobs.get()) is not None:
            self._answer(job, self._parse)

    def _answer(self, job: _Job, parse_one: Callable[[float, dict[str, Any]], Parsed]) -> None:
        budget, request, future = job
        try:
            if future.set_running_or_notify_cancel():  # False: its poll gave up
                future.set_result(parse_one(budget, request))
        except BaseException as exc:  # the feed's own failure, for its poll to report
            future.set_exception(exc)
        finally:
            with self._lock:
                self._waiting -= 1

    def _parse(self, budget: float, request: dict[str, Any]) -> Parsed:
        try:
            return self._pool.run(budget, request)
        except WorkerNotStarted:
            # The process that replaced a stopped one did not start: this feed is parsed as
            # it would have been without this queue (in-process, without a budget).
            return parse(request)
