"""Parsing under a time budget, never on the event loop: where each feed is parsed.

Small feeds (nearly all: tens of items, tens of KB) are parsed in-process, in a thread: that
costs a few ms, where starting another process would cost more than the parse, and a small
body bounds the worst case (feedparser at ~25 µs per element: well under a second for
``IN_PROCESS_BYTES``). When many arrive at once (a poll of hundreds of feeds), they go to one
kept parser process instead, so parsing runs beside the event loop on another core
(``parsequeue.py``). Larger bodies go to the pool of parser processes that are stopped at
``fetch.parse_timeout`` (``parsepool.py``).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

# The pool, the queue and the worker's message format (with pickle) load with the first body
# to parse (``parse_within``): every poll enters ``polling``, and a poll whose feeds all
# answer 304 parses nothing.
if TYPE_CHECKING:
    from bot.config import Source
    from bot.ingest.parsepool import ParserPool
    from bot.ingest.parsequeue import SerialParser
    from bot.ingest.parseworker import Parsed
    from bot.store import SourceState

#: Small feeds parsed in-process while others waited their turn, after which the parser
#: process for small feeds starts: a poll of a few feeds parses them sooner than a process
#: starts (~0.2 s of CPU), so it starts only once feeds keep queueing up.
QUEUE_AFTER = 16
#: Small feeds waiting for that process beyond which the next is parsed in-process. High:
#: on a poll of hundreds of feeds the event loop's process is the busier one (fetching,
#: storing, under one GIL), so a feed parsed here to spare the parser process costs the
#: poll more than it saves (at 64, a cold 200-feed poll parsed 22–36 here: 1.66 s median
#: wall, 1.49 s at 512). 512 small feeds are ~3 s of parsing and ~13 MB of bodies.
QUEUE_MAX = 512

_pool: ParserPool | None = None
_serial: SerialParser | None = None
_pool_pid = 0  # the process that started the workers (a forked child starts its own)
_pool_lock = threading.Lock()
_in_process = 0  # small feeds waiting for, or in, an in-process parse
_contended = 0  # small feeds parsed in-process while another was waiting or in its parse
_in_flight = 0  # feeds being polled now, as the polls said (``polling``)


def _shared() -> tuple[ParserPool, SerialParser]:
    global _pool, _serial, _pool_pid
    from bot.ingest.parsepool import ParserPool
    from bot.ingest.parsequeue import SerialParser

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


def sure_bodies(sources: Iterable[Source], states: Mapping[str, SourceState]) -> int:
    """How many of ``sources`` a poll will get a whole feed from, whatever their servers say:
    the remote ones with nothing to make the request conditional (never polled, or a server
    that sends neither ETag nor Last-Modified). Any other may answer 304."""
    count = 0
    for source in sources:
        state = states.get(source.id)
        if source.is_remote and (state is None or not (state.etag or state.last_modified)):
            count += 1
    return count


def start_early(sure: int) -> bool:
    """Before a poll's own start-up (``newsbot once``): when ``sure`` feeds (``sure_bodies``)
    will certainly have to be parsed, ``QUEUE_AFTER`` or more, the parser process starts now,
    not at the first body. Its imports (~0.15 s) then run beside the rest of this process's
    start-up instead of after it: a cold `newsbot once` of 200 feeds went from 0.91 to 0.86 s
    (12 interleaved pairs). A poll that may find every feed unchanged starts nothing: an
    unused process is ~0.13 s of CPU. True if it started one."""
    if sure < QUEUE_AFTER:
        return False
    _shared()[1].start()
    return True


@contextmanager
def polling(feeds: int) -> Iterator[None]:
    """Around a poll of ``feeds`` feeds at once. With ``QUEUE_AFTER`` or more in flight, their
    bodies will queue up to be parsed, so the parser process starts at the first body rather
    than after ``QUEUE_AFTER`` feeds have waited in-process: its imports (~0.2 s) overlap the
    fetches, and fewer feeds are parsed on the event loop's core (a cold poll of 200 feeds
    parsed 69 of them in-process before the process was ready, 0.14 s of CPU under the GIL).
    A poll whose feeds all answer 304 parses nothing, so it still never starts one."""
    global _in_flight
    _in_flight += feeds
    try:
        yield
    finally:
        _in_flight -= feeds


async def parse_within(budget: float, source_id: str, body: bytes, *, url: str,
                       headers: Mapping[str, str] | None = None, language: str = "",
                       as_fed: bool = False) -> Parsed:
    """``parse_feed`` that gives up after ``budget`` seconds with a SourceError, never
    blocking the event loop. ``as_fed``: a parser process also works out each item as
    ``enrich.as_fed`` makes it (an in-process parse leaves that to the caller)."""
    global _in_process, _contended
    from bot.ingest.parsepool import IN_PROCESS_BYTES
    from bot.ingest.parseworker import Parsed

    request = {"source_id": source_id, "body": body, "url": url,
               "headers": dict(headers or {}), "language": language}
    pool, serial = _shared()
    if _in_flight >= QUEUE_AFTER:
        serial.start()  # a no-op once started
    if len(body) > IN_PROCESS_BYTES:
        return await asyncio.to_thread(pool.run, budget, {**request, "as_fed": as_fed})
    # Once the parser process is started, small feeds queue for it, even while it is still
    # importing: a feed parsed here instead holds the GIL the event loop needs, where the
    # process parses on another core. Past QUEUE_MAX waiting, the next is parsed here.
    if serial.started and serial.waiting < QUEUE_MAX:
        queued = serial.submit(budget, {**request, "as_fed": as_fed})
        if queued is not None:
            return await asyncio.wrap_future(queued)
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
