"""Group commit: the polls ready together are stored in one transaction, each feed in a
savepoint of its own, so one feed's failure costs only that feed (bot/ingest/pollwriter.py,
``Store.record_polls``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.config import parse_config
from bot.errors import StoreError
from bot.ingest.poll import make_fetcher, poll_sources
from bot.ingest.pollwriter import PollWriter
from bot.models import Article, FeedItem
from bot.store import NewDelivery, PollRecord, PollSuccess, PollWrite, Store
from tests.feed_server import FeedServer

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _item(source: str, n: int, url: str = "") -> FeedItem:
    return FeedItem(source_id=source, guid=f"{source}-g{n}",
                    url=url or f"https://news.example.org/{source}/{n}", title=f"Story {n}",
                    published=NOW - timedelta(minutes=n))


def _to_tg(articles: list[Article]) -> list[tuple[int, NewDelivery]]:
    return [(a.id, NewDelivery(channel="tg", due_at=NOW)) for a in articles]


def _to_missing_article(articles: list[Article]) -> list[tuple[int, NewDelivery]]:
    # A delivery for an article that does not exist: the database refuses it (foreign key).
    return [(10**9, NewDelivery(channel="tg", due_at=NOW))]


def _planner_bug(articles: list[Article]) -> list[tuple[int, NewDelivery]]:
    raise RuntimeError("planner bug")


def _poll(source: str, count: int = 3, *, plan: Any = _to_tg,
          items: list[FeedItem] | None = None) -> PollRecord:
    items = items if items is not None else [_item(source, n) for n in range(count)]
    return PollRecord(source, items, announced=[True] * len(items), found=None, plan=plan,
                      done=PollSuccess(now=NOW, next_poll_at=NOW + timedelta(hours=1),
                                       items=len(items), parser="fastfeedparser"))


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    """The SQL the store sends meanwhile, COMMITs included."""
    seen: list[str] = []

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    def commit(conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(store.engine, "before_cursor_execute", statement)
    event.listen(store.engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", statement)
        event.remove(store.engine, "commit", commit)


def _articles_of(store: Store, source: str) -> int:
    return sum(1 for d in store.deliveries() if store.get_article(d.article_id).source_id
               == source)


def test_a_feed_whose_write_fails_costs_only_that_feed(store: Store) -> None:
    polls = [_poll("a"), _poll("b", plan=_to_missing_article), _poll("c"),
             _poll("d", plan=_planner_bug), _poll("e")]
    with _statements(store) as sql:
        outcomes = store.record_polls(polls)
    assert sql.count("COMMIT") == 1  # one transaction for the five feeds
    ok = [o for o in outcomes if isinstance(o, PollWrite)]
    assert [o.deliveries for o in ok] == [3, 3, 3]
    assert isinstance(outcomes[1], StoreError)
    assert "record_poll failed" in str(outcomes[1])  # as record_poll alone raised it
    assert isinstance(outcomes[3], RuntimeError) and str(outcomes[3]) == "planner bug"
    assert store.count_articles() == 9  # a, c and e; nothing of b or d
    states = store.source_states()
    assert sorted(states) == ["a", "c", "e"]  # a failed feed's success is not recorded
    assert all(states[s].items_seen == 3 for s in "ace")
    assert [_articles_of(store, s) for s in "abcde"] == [3, 0, 3, 0, 3]


def test_each_failure_is_the_one_record_poll_raises_for_that_feed_alone(store: Store) -> None:
    bad = _poll("b", plan=_to_missing_article)
    with pytest.raises(StoreError) as alone:
        store.record_poll(bad.source_id, bad.items, announced=bad.announced, found=None,
                          plan=bad.plan, done=bad.done)
    together = store.record_polls([_poll("a"), bad])[1]
    assert isinstance(together, StoreError)
    assert str(together) == str(alone.value)
    assert together.retryable == alone.value.retryable


def test_an_article_two_feeds_carry_in_one_batch_is_stored_and_announced_once(
        store: Store) -> None:
    shared = "https://news.example.org/shared"
    first, second = store.record_polls([
        _poll("a", items=[_item("a", 1, shared), _item("a", 2)]),
        _poll("b", items=[_item("b", 1, shared)]),
    ])
    assert isinstance(first, PollWrite) and isinstance(second, PollWrite)
    (stored, new), _ = first.articles
    ((found, again),) = second.articles
    assert new and not again
    assert found.id == stored.id and found.source_id == "a"
    assert (first.deliveries, second.deliveries) == (2, 0)
    assert store.count_articles() == 2
    assert len(store.deliveries()) == 2


def test_a_batch_of_one_is_a_transaction_of_its_own(store: Store) -> None:
    with _statements(store) as sql:
        (outcome,) = store.record_polls([_poll("a")])
    assert isinstance(outcome, PollWrite) and outcome.deliveries == 3
    assert sql.count("COMMIT") == 1
    assert not any("SAVEPOINT" in s.upper() for s in sql)


def test_a_batch_whose_commit_fails_is_written_again_a_feed_at_a_time(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    dialect = store.engine.dialect
    commit = dialect.do_commit
    failed: list[bool] = []

    def fail_first_commit(dbapi_conn: Any) -> None:
        if not failed:  # the driver refuses the batch's COMMIT (a full disk, say)
            failed.append(True)
            dbapi_conn.rollback()
            raise dialect.loaded_dbapi.OperationalError("disk I/O error (simulated)")
        commit(dbapi_conn)

    monkeypatch.setattr(dialect, "do_commit", fail_first_commit)
    outcomes = store.record_polls([_poll("a"), _poll("b", plan=_planner_bug), _poll("c")])
    assert failed
    assert isinstance(outcomes[0], PollWrite) and isinstance(outcomes[2], PollWrite)
    assert isinstance(outcomes[1], RuntimeError)  # its own failure, not written again
    assert store.count_articles() == 6
    assert sorted(store.source_states()) == ["a", "c"]


async def test_polls_handed_over_together_share_one_commit(store: Store) -> None:
    writer = PollWriter(store)
    with _statements(store) as sql:
        written = await asyncio.gather(*(writer.write(_poll(s)) for s in "abcde"))
    assert sql.count("COMMIT") == 1
    assert [w.deliveries for w in written] == [3] * 5
    assert store.count_articles() == 15


async def test_a_failing_feed_raises_in_its_own_poll_and_the_others_are_stored(
        store: Store) -> None:
    writer = PollWriter(store)
    outcomes = await asyncio.gather(
        writer.write(_poll("a")), writer.write(_poll("b", plan=_to_missing_article)),
        writer.write(_poll("c")), return_exceptions=True)
    assert isinstance(outcomes[0], PollWrite) and isinstance(outcomes[2], PollWrite)
    assert isinstance(outcomes[1], StoreError)
    assert sorted(store.source_states()) == ["a", "c"]


async def test_a_batch_stops_at_its_cap_and_the_rest_follow(store: Store) -> None:
    writer = PollWriter(store, max_polls=2, max_items=7)
    with _statements(store) as sql:
        # by feeds: [a b] [c d]; by items: a 4 + b 4 > 7, so each feed of 4 goes alone
        await asyncio.gather(*(writer.write(_poll(s)) for s in "abcd"))
        small = sql.count("COMMIT")
        await asyncio.gather(*(writer.write(_poll(s, count=4)) for s in "efgh"))
    assert small == 2
    assert sql.count("COMMIT") == 2 + 4
    assert store.count_articles() == 4 * 3 + 4 * 4


async def test_a_lone_poll_is_written_at_once_without_savepoint(store: Store) -> None:
    writer = PollWriter(store)
    with _statements(store) as sql:
        written = await asyncio.wait_for(writer.write(_poll("a")), timeout=5)
    assert written.deliveries == 3
    assert sql.count("COMMIT") == 1
    assert not any("SAVEPOINT" in s.upper() for s in sql)


async def test_feeds_polled_in_one_round_that_share_an_article_announce_it_once(
        feed_server: FeedServer, store: Store, tmp_path: Path) -> None:
    def feed(source: str) -> str:
        items = "".join(
            f"<item><title>{title}</title><link>https://news.example.org/{link}</link>"
            f"<guid>{source}-{link}</guid></item>"
            for title, link in (("Shared story", "shared"), (f"Own {source}", source)))
        return f"<rss version='2.0'><channel><title>{source}</title>{items}</channel></rss>"

    urls = {s: feed_server.add(f"/{s}.xml", feed(s)) for s in ("s1", "s2", "s3")}
    config = parse_config(
        'channels: {tg: {type: telegram, chat: "@c"}}\nsources:\n' + "".join(
            f"  - {{id: {s}, url: '{u}', fetch_pages: never}}\n" for s, u in urls.items()),
        base_dir=tmp_path)
    async with make_fetcher(config) as fetcher:
        reports = await poll_sources(config, store, now=NOW, fetcher=fetcher)
    assert all(r.ok for r in reports)
    assert sum(r.new for r in reports) == 4  # the shared story once, and each feed's own
    assert sum(r.known for r in reports) == 2
    assert store.count_articles() == 4
    assert len(store.deliveries(channel="tg")) == 4
