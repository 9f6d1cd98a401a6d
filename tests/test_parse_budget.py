"""Parsing never holds the bot hostage: a feed that overruns fetch.parse_timeout is stopped
and is its source's error, while the other sources' items are stored as usual."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.errors import SourceError
from bot.ingest.enrich import as_fed
from bot.ingest.parse import parse_feed
from bot.ingest.parsebudget import QUEUE_AFTER, sure_bodies
from bot.ingest.parsepool import IN_PROCESS_BYTES, ParserPool
from bot.ingest.parsequeue import SerialParser
from bot.ingest.poll import make_fetcher, poll_sources
from bot.store import SourceState, Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GOOD = ("<rss version='2.0'><channel><title>t</title><item><title>Fine story</title>"
        "<link>https://news.example.org/fine</link><guid>fine</guid></item></channel></rss>")


def _hostile(size: int) -> bytes:
    # Not well-formed (a stray '&'), so feedparser's loose parser reads it: ~25 µs for each
    # of the hundreds of thousands of empty elements, a minute or more in all.
    head = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t &</title><item>"
            b"<title>x</title><link>https://news.example.org/x</link>")
    return head + b"<a/>" * ((size - len(head)) // 4) + b"</item></channel></rss>"


async def test_a_feed_over_its_parse_budget_fails_alone_with_the_reason(
        store: Store, tmp_path: Path) -> None:
    (tmp_path / "hostile.xml").write_bytes(_hostile(6_000_000))
    (tmp_path / "good.xml").write_text(GOOD)
    config = parse_config("""
fetch: {parse_timeout: 1s}
sources:
  - {id: hostile, url: hostile.xml, fetch_pages: never}
  - {id: good, url: good.xml, fetch_pages: never}
""", base_dir=tmp_path)
    started = time.monotonic()
    async with make_fetcher(config) as fetcher:
        reports = {r.source_id: r for r in await poll_sources(config, store, now=NOW,
                                                               fetcher=fetcher)}
    assert time.monotonic() - started < 20  # a worker's start-up, then one second of parsing
    assert not reports["hostile"].ok
    assert "took more than 1 s to parse" in reports["hostile"].error
    assert "fetch.parse_timeout" in reports["hostile"].error
    assert store.source_state("hostile").consecutive_errors == 1
    assert reports["good"].ok and reports["good"].new == 1


def test_a_large_feed_parsed_in_a_worker_gives_the_same_items() -> None:
    items = "".join(
        f"<item><title>Story {n}</title><link>https://news.example.org/{n}</link>"
        f"<description>{'A long paragraph about the harbour. ' * 20}</description></item>"
        for n in range(200))
    body = f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()
    assert len(body) > IN_PROCESS_BYTES
    request = {"source_id": "big", "body": body, "url": "https://news.example.org/feed.xml",
               "headers": {}, "language": "en"}
    pool = ParserPool(size=1)
    try:
        in_worker = pool.parse(30.0, request)
        again = pool.parse(30.0, request)  # the same worker, kept
    finally:
        pool.close()
    in_process = parse_feed("big", body, url="https://news.example.org/feed.xml",
                            language="en")
    assert in_worker == in_process == again
    assert len(in_worker.items) == 200


def test_feeds_queued_for_the_kept_parser_give_the_same_items_and_keep_their_budget() -> None:
    # Small feeds arriving many at once are parsed in one kept process, in turn. Each still
    # has its own budget from when its parse starts: a slow one is stopped alone, and the
    # feed queued behind it is parsed (by a new process) within its own budget.
    slow = _hostile(IN_PROCESS_BYTES - 1000)  # ~1 s for feedparser: over a 0.3 s budget
    good = {"source_id": "good", "body": GOOD.encode(), "url": "https://news.example.org/f",
            "headers": {}, "language": "en"}
    serial = SerialParser()
    serial.start()
    try:
        deadline = time.monotonic() + 60
        while not serial.ready and time.monotonic() < deadline:
            time.sleep(0.01)
        first = serial.submit(30.0, good)
        stopped = serial.submit(0.3, {**good, "source_id": "slow", "body": slow})
        after = serial.submit(30.0, good)
        assert first.result(timeout=60).feed == parse_feed(**good)  # type: ignore[arg-type]
        with pytest.raises(SourceError, match=r"took more than 0\.3 s to parse"):
            stopped.result(timeout=60)
        assert after.result(timeout=60) == first.result()
        assert serial.waiting == 0
    finally:
        serial.close()


def test_feeds_queued_while_the_parser_starts_are_parsed_by_it() -> None:
    good = {"source_id": "good", "body": GOOD.encode(), "url": "https://news.example.org/f",
            "headers": {}, "language": "en"}
    serial = SerialParser()
    serial.start()
    try:
        queued = [serial.submit(30.0, good) for _ in range(3)]  # it is still importing
        assert all(q is not None and q.result(timeout=60).feed == parse_feed(**good)  # type: ignore[arg-type]
                   for q in queued)
        assert serial.ready and serial.waiting == 0
    finally:
        serial.close()


@pytest.mark.parametrize("pipe_room", [None, 16 * 1024])
def test_feeds_handed_ahead_to_the_parser_come_back_whole_and_in_order(
        monkeypatch: pytest.MonkeyPatch, pipe_room: int | None) -> None:
    # The parser process is handed several feeds ahead of the one it parses. Feeds and
    # replies here are larger than a pipe that cannot be enlarged holds (16 KiB): writing
    # ahead must never wait on a worker that is itself waiting to hand back a reply.
    if pipe_room is not None:
        monkeypatch.setattr("bot.ingest.parsepool._pipe_room", lambda stream: pipe_room)
    feeds = []
    for n in range(12):
        items = "".join(f"<item><title>Story {n}-{i} about the budget</title>"
                        f"<link>https://news.example.org/{n}/{i}</link><guid>{n}-{i}</guid>"
                        f"<description>{'Ministers met to discuss the budget. ' * 20}"
                        "</description></item>" for i in range(40 + n))
        feeds.append({"source_id": f"s{n}", "body": (
            f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>").encode(),
            "url": f"https://news.example.org/{n}.xml", "headers": {}, "language": "en"})
    assert all(len(f["body"]) > 16 * 1024 for f in feeds)  # type: ignore[arg-type]
    serial = SerialParser()
    serial.start()
    try:
        queued = [serial.submit(30.0, {**f, "as_fed": True}) for f in feeds]
        got = [q.result(timeout=120) for q in queued if q is not None]
    finally:
        serial.close()
    assert [p.feed for p in got] == [parse_feed(**f) for f in feeds]  # type: ignore[arg-type]
    assert [len(p.feed.items) for p in got] == [40 + n for n in range(12)]


def test_feeds_queued_for_a_parser_that_never_starts_are_parsed_in_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No parser process can start here (no interpreter at that path): a feed that queued
    # for it is parsed all the same, and the next is told to go elsewhere.
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    good = {"source_id": "good", "body": GOOD.encode(), "url": "https://news.example.org/f",
            "headers": {}, "language": "en"}
    serial = SerialParser()
    queued = serial.submit(30.0, good)
    serial.start()
    try:
        assert queued is not None
        assert queued.result(timeout=60).feed == parse_feed(**good)  # type: ignore[arg-type]
        assert serial.submit(30.0, good) is None and not serial.ready
    finally:
        serial.close()


def test_a_parser_process_gives_the_items_as_a_never_source_stores_them() -> None:
    # fetch_pages: never stores new items as enrich.as_fed makes them; the parser process
    # works that out beside the parse, the same as the event loop would.
    items = "".join(
        f"<item><title>Story {n}</title><link>https://news.example.org/{n}</link>"
        f"<description>{summary}</description></item>"
        for n, summary in enumerate([
            "Ministers met on Tuesday to discuss the budget, officials said.",
            "Ministers met on Tuesday to discuss the budget and the second such... Read more »",
            "Story 2\n\nMinisters met on Tuesday to discuss the budget, officials said."]))
    body = f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()
    request = {"source_id": "s", "body": body, "url": "https://news.example.org/feed.xml",
               "headers": {}, "language": "en"}
    pool = ParserPool(size=1)
    try:
        parsed = pool.run(30.0, {**request, "as_fed": True})
        plain = pool.run(30.0, request)
    finally:
        pool.close()
    assert parsed.as_fed is not None and plain.as_fed is None
    assert [ready or item for ready, item in zip(parsed.as_fed, parsed.feed.items, strict=True)
            ] == [as_fed(item) for item in parsed.feed.items]
    assert parsed.as_fed[0] is None and parsed.as_fed[1] is not None  # unchanged, cleaned


@pytest.mark.parametrize(("in_flight", "starts"), [(20, True), (2, False)])
def test_a_large_poll_starts_the_parser_process_at_its_first_feed(in_flight: int,
                                                                   starts: bool) -> None:
    # Many feeds polled at once will queue up to be parsed: the parser process starts with
    # the first body, so its imports overlap the other fetches. A small poll parses in-process
    # and never pays for a process. (A fresh interpreter: the parser state is per process.)
    code = f"""
import asyncio, time
from bot.ingest import parsebudget
async def main():
    with parsebudget.polling({in_flight}):
        parsed = await parsebudget.parse_within(30.0, "s", {GOOD.encode()!r},
                                                url="https://news.example.org/f")
    serial = parsebudget._shared()[1]
    deadline = time.monotonic() + 60
    while serial.started and not serial.ready and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    print(len(parsed.feed.items), serial.started, serial.ready)
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == ["1", str(starts), str(starts)]


def test_the_feeds_sure_to_send_a_body_are_the_remote_ones_a_poll_cannot_make_conditional(
        tmp_path: Path) -> None:
    # What decides whether `newsbot once` starts the parser process before it fetches:
    # a feed with a stored ETag or Last-Modified may answer 304; one without, or never
    # polled, sends its whole body. A local file is read, not queued for the process.
    sources = "\n".join(f"  - {{id: s{n}, url: 'https://news.example.org/{n}.xml'}}"
                        for n in range(5))
    config = parse_config(f"sources:\n{sources}\n  - {{id: local, url: feed.xml}}\n",
                          base_dir=tmp_path)
    assert sure_bodies(config.sources, {}) == 5
    states = {"s0": SourceState("s0", etag='"abc"'),
              "s1": SourceState("s1", last_modified="Mon, 30 Nov 2026 10:00:00 GMT"),
              "s2": SourceState("s2", last_polled_at=NOW),  # its server sends no validator
              "local": SourceState("local")}
    assert sure_bodies(config.sources, states) == 3


@pytest.mark.parametrize(("sure", "starts"), [(QUEUE_AFTER, True), (QUEUE_AFTER - 1, False)])
def test_a_poll_sure_to_parse_many_feeds_starts_the_parser_process_before_it_fetches(
        sure: int, starts: bool) -> None:
    # (A fresh interpreter: the parser state is per process.)
    code = f"""
import time
from bot.ingest import parsebudget
started = parsebudget.start_early({sure})
serial = parsebudget._serial
deadline = time.monotonic() + 60
while serial is not None and not serial.ready and time.monotonic() < deadline:
    time.sleep(0.01)
print(started, serial is not None and serial.ready)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == [str(starts), str(starts)]
