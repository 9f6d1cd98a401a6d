"""A feed's poll writes all or nothing (a transaction, or a savepoint in a batch's), with a
fixed number of statements however many items it carries: ingest costs the same per item at
10 stored articles or at a million."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.config import parse_config
from bot.ingest.poll import make_fetcher, poll_source, poll_sources
from bot.models import Article, FeedItem
from bot.store import NewDelivery, PollSuccess, Store
from tests.feed_server import FeedServer
from tests.kit import newsroom_yaml

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CONFIG = newsroom_yaml('tg: {type: telegram, chat: "@c"}', "x: {type: x}",
                       source="{id: en, url: feed.xml, fetch_pages: never}")


def _feed(path: Path, count: int, first: int = 0) -> None:
    items = "".join(
        f"<item><title>Story {n}</title><link>https://news.example.org/{n}</link><guid>g{n}</guid>"
        f"<description>Story number {n}.</description>"
        f"<pubDate>Tue, 24 Nov 2026 11:{n % 60:02d}:00 +0000</pubDate></item>"
        for n in range(first, first + count))
    path.write_text(f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>")


async def _poll_counting(store: Store, tmp_path: Path, count: int, first: int) -> int:
    _feed(tmp_path / "feed.xml", count, first)
    config = parse_config(CONFIG, base_dir=tmp_path)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        async with make_fetcher(config) as fetcher:
            report = await poll_source(config.sources[0], config=config, store=store,
                                       fetcher=fetcher, now=NOW)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert report.ok and report.new == count and report.deliveries == 2 * count
    return len(statements)


async def test_a_feed_of_200_items_takes_as_many_statements_as_a_feed_of_5(
        store: Store, tmp_path: Path) -> None:
    await _poll_counting(store, tmp_path, 5, first=0)  # the first poll also adds the source
    few = await _poll_counting(store, tmp_path, 5, first=100)
    many = await _poll_counting(store, tmp_path, 200, first=1000)
    assert many == few  # multi-row INSERTs: no statement per item
    assert len(store.deliveries()) == 2 * 210


def _item(n: int) -> FeedItem:
    return FeedItem(source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}",
                    title=f"Story {n}", published=NOW - timedelta(minutes=n))


def test_a_poll_whose_planning_fails_stores_nothing(store: Store) -> None:
    # All or nothing: never an article without its deliveries (it would never be announced).
    def broken(articles: list[Article]) -> list[tuple[int, NewDelivery]]:
        raise RuntimeError("planner bug")

    with pytest.raises(RuntimeError):
        store.record_poll("en", [_item(1), _item(2)], announced=[True, True], found=None,
                          plan=broken, done=PollSuccess(now=NOW, next_poll_at=NOW, items=2))
    assert store.count_articles() == 0
    assert store.source_state("en").last_success_at is None


def test_a_poll_stores_new_items_plans_them_and_refreshes_known_ones(store: Store) -> None:
    ((first, _),) = store.add_articles([_item(1)], now=NOW, announced=[True])
    corrected = FeedItem(source_id="en", guid="g1", url="https://news.example.org/1",
                         title="Story 1 (corrected)", published=NOW)

    def plan(articles: list[Article]) -> list[tuple[int, NewDelivery]]:
        return [(a.id, NewDelivery(channel="tg", due_at=NOW)) for a in articles]

    written = store.record_poll(
        "en", [corrected, _item(2), _item(2)], announced=[True, True, True], found=None,
        plan=plan, done=PollSuccess(now=NOW, next_poll_at=NOW, items=3, parser="feedparser"))
    assert [new for _, new in written.articles] == [False, True, False]
    assert written.deliveries == 1  # only the new one, once
    assert store.get_article(first.id).title == "Story 1 (corrected)"
    state = store.source_state("en")
    assert state.items_seen == 3 and state.parser == "feedparser"


async def test_a_round_of_feeds_that_answer_304_is_recorded_in_one_transaction(
        feed_server: FeedServer, store: Store, tmp_path: Path) -> None:
    feed = ("<rss version='2.0'><channel><title>t</title><item><title>Story</title>"
            "<link>https://news.example.org/s</link><guid>s</guid></item></channel></rss>")
    urls = {f"s{n}": feed_server.add(f"/s{n}.xml", feed, etag=f'"s{n}"') for n in range(6)}
    config = parse_config("sources:\n" + "".join(
        f"  - {{id: {source}, url: '{url}', fetch_pages: never}}\n"
        for source, url in urls.items()), base_dir=tmp_path)
    async with make_fetcher(config) as fetcher:
        await poll_sources(config, store, now=NOW, fetcher=fetcher)  # etags stored
        commits: list[object] = []
        count = commits.append
        event.listen(store.engine, "commit", count)
        try:
            later = NOW + timedelta(hours=2)
            reports = await poll_sources(config, store, now=later, fetcher=fetcher)
        finally:
            event.remove(store.engine, "commit", count)
    assert all(r.not_modified for r in reports)
    assert len(commits) == 1  # not one a source
    states = store.source_states()
    for source in config.sources:
        assert states[source.id].last_success_at == later
        assert states[source.id].next_poll_at == later + source.every
        assert states[source.id].etag == f'"{source.id}"'
