"""Parsing never holds the bot hostage: a feed that overruns fetch.parse_timeout is stopped
and is its source's error, while the other sources' items are stored as usual."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from bot.config import parse_config
from bot.ingest.parse import parse_feed
from bot.ingest.parsepool import IN_PROCESS_BYTES, ParserPool
from bot.ingest.poll import make_fetcher, poll_sources
from bot.store import Store

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
