"""The light store (bot/store/light.py) answers a short command's first calls on SQLite
without SQLAlchemy, exactly as the full store would, and hands over to the full store at the
first call it cannot answer."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.config import parse_config
from bot.errors import StoreError
from bot.models import DeliveryStatus, FeedItem, NewDelivery
from bot.operations import run_cycle
from bot.store import PollSuccess, Store, migrations, open_store
from bot.store.light import SCHEMA_VERSIONS, LightStore, open_cycle_store
from bot.store.sqlite_file import sqlite_file
from tests.feed_server import FeedServer
from tests.kit import open_light_store

# In the past: a cycle's dispatch runs on the wall clock, so its posts must be due by then.
NOW = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=123456)
LATER = NOW + timedelta(minutes=15)


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def _versions(path: Path) -> set[int]:
    return {row[0] for row in _rows(path, "schema_version")}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with a source polled with a parser, one answering 304, one failing."""
    path = tmp_path / "newsbot.db"
    with open_store(_url(path)) as store:
        store.record_poll_success("feed", now=NOW, next_poll_at=NOW + timedelta(minutes=30),
                                  etag='"e1"', last_modified="Mon, 30 Nov 2026 08:00:00 GMT",
                                  items=12, note="2 items skipped", parser="fastfeedparser")
        store.record_poll_success("quiet", now=NOW, next_poll_at=NOW, etag='"q"',
                                  parser="feedparser", parser_note="xml:base")
        store.record_poll_failure("broken", now=NOW, error="HTTP 500",
                                  next_poll_at=NOW + timedelta(hours=1))
    return path


def test_the_light_store_reads_every_source_state_as_the_full_store_does(db: Path) -> None:
    with open_store(_url(db)) as full:
        expected = full.source_states()
    with open_light_store(db) as light:
        states = light.source_states()
        assert not light.opened_full
    assert states == expected
    assert set(states) == {"feed", "quiet", "broken"}
    times = [t for s in states.values()
             for t in (s.last_polled_at, s.last_success_at, s.next_poll_at) if t is not None]
    assert times and all(t.tzinfo is UTC for t in times)
    assert states["feed"].last_polled_at == NOW  # microseconds kept


def test_the_light_store_records_polls_byte_for_byte_as_the_full_store_does(
        db: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin.db"
    shutil.copy(db, twin)
    east = timezone(timedelta(hours=3))
    polls = [
        ("quiet", PollSuccess(now=LATER, next_poll_at=LATER.astimezone(east), etag='"q"')),
        ("feed", PollSuccess(now=LATER, next_poll_at=LATER + timedelta(minutes=30),
                             etag='"e2"', items=3, note="1 item skipped",
                             parser="feedparser", parser_note="entity declarations")),
        ("broken", PollSuccess(now=LATER, next_poll_at=LATER)),
        ("new-304", PollSuccess(now=LATER, next_poll_at=LATER, etag='"n"')),
        ("new-feed", PollSuccess(now=LATER, next_poll_at=LATER, items=5,
                                 parser="fastfeedparser")),
    ]
    with open_store(_url(db)) as full:
        full.record_poll_successes(polls)
    with open_light_store(twin) as light:
        light.record_poll_successes(polls)
        assert not light.opened_full
    assert _rows(twin, "sources") == _rows(db, "sources")
    with open_store(_url(twin)) as full:  # and the full store reads it back as it wrote it
        assert full.source_states()["quiet"].parser == "feedparser"  # a 304 keeps the parser
        assert full.source_states()["new-feed"].items_seen == 5


def _delivery(store: Store, channel: str, due_at: datetime) -> int:
    [(article, _)] = store.add_articles([_item(channel)], now=NOW, announced=[True])
    store.create_deliveries(article.id, [NewDelivery(channel=channel, due_at=due_at)], now=NOW)
    return article.id


def _item(key: str) -> FeedItem:
    return FeedItem(source_id="feed", guid=key, url=f"https://news.example.org/{key}",
                    title=key, published=NOW)


DISPATCH_CASES = [
    ("nothing", ["tg"], False),
    ("due on tg", ["tg"], True),
    ("due on tg", ["x"], False),  # not a channel this pass serves
    ("due on tg", [], False),
    ("due later on tg", ["tg"], False),
    ("claim lapsed", [], True),  # recover_expired has work on any channel
    ("claim held", ["tg"], False),
]


def _prepare(store: Store, setup: str) -> None:
    if setup.startswith("due on"):
        _delivery(store, "tg", NOW)
    elif setup == "due later on tg":
        _delivery(store, "tg", LATER + timedelta(minutes=1))
    elif setup.startswith("claim"):
        _delivery(store, "tg", NOW)
        lease = timedelta(minutes=1) if setup == "claim lapsed" else timedelta(hours=1)
        assert store.claim("tg", now=NOW, worker="w", lease=lease,
                           pick=lambda history, due, now: [d.id for d in due])


@pytest.mark.parametrize(("setup", "channels", "work"), DISPATCH_CASES)
def test_the_store_tells_whether_a_dispatch_pass_has_work(
        store: Store, setup: str, channels: list[str], work: bool) -> None:
    _prepare(store, setup)
    assert store.has_dispatch_work(channels, LATER) is work


@pytest.mark.parametrize(("setup", "channels", "work"), DISPATCH_CASES)
def test_the_light_store_tells_whether_dispatch_has_work_as_the_full_store_does(
        db: Path, setup: str, channels: list[str], work: bool) -> None:
    with open_store(_url(db)) as full:
        _prepare(full, setup)
        assert full.has_dispatch_work(channels, LATER) is work
    with open_light_store(db) as light:
        assert light.has_dispatch_work(channels, LATER) is work
        assert not light.opened_full


def test_every_store_reads_source_states_with_aware_utc_times(store: Store) -> None:
    east = timezone(timedelta(hours=3))
    store.record_poll_successes([("a", PollSuccess(now=NOW.astimezone(east),
                                                   next_poll_at=LATER, etag='"a"'))])
    store.record_poll_failure("b", now=NOW, error="HTTP 500", next_poll_at=LATER)
    states = store.source_states()
    assert states["a"].last_polled_at == NOW and states["a"].last_polled_at.tzinfo is UTC
    assert states["a"].etag == '"a"' and states["a"].next_poll_at == LATER
    assert states["b"].consecutive_errors == 1 and states["b"].last_success_at is None


def test_a_missing_file_is_created_current_and_read_by_the_light_store(tmp_path: Path) -> None:
    # Made as the migrations would make it, without SQLAlchemy (tests/test_fresh_sqlite.py).
    path = tmp_path / "new.db"
    with open_cycle_store(_url(path)) as store:
        assert isinstance(store, LightStore)
        assert store.source_states() == {}
    assert _versions(path) >= SCHEMA_VERSIONS


def test_a_store_missing_a_migration_is_opened_by_the_full_store_which_migrates_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    last = max(SCHEMA_VERSIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [m for m in migrations.MIGRATIONS if m[0] != last])
    open_store(_url(path)).close()
    monkeypatch.undo()
    assert last not in _versions(path)
    with open_cycle_store(_url(path)) as store:
        assert isinstance(store, Store)
    assert last in _versions(path)


def test_the_light_store_knows_every_migration() -> None:
    assert frozenset(n for n, _ in migrations.MIGRATIONS) == SCHEMA_VERSIONS


@pytest.mark.parametrize("url", [
    "sqlite:///newsbot.db", "sqlite:////srv/news/newsbot.db", "sqlite:///dir/with space.db",
    "sqlite:///x#y@z.db", "sqlite:///a%20b.db", "sqlite:///newsbot.db?mode=ro",
    "sqlite:///:memory:", "sqlite://", "sqlite+pysqlite:///newsbot.db",
    "postgresql+psycopg://u@h/db"])
def test_the_light_store_reads_a_store_url_as_sqlalchemy_does_or_leaves_it_to_it(
        url: str) -> None:
    found = sqlite_file(url)
    if found is not None:
        parsed = make_url(url)
        assert not parsed.query
        assert str(found) == parsed.database


def test_a_busy_store_fails_a_light_write_as_the_full_store_would(db: Path) -> None:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        store = open_cycle_store(_url(db), busy_timeout=timedelta(milliseconds=50))
        assert isinstance(store, LightStore)
        with store, pytest.raises(StoreError) as failed:
            store.record_poll_successes([("feed", PollSuccess(now=LATER, next_poll_at=LATER))])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert failed.value.retryable
    assert "record_poll_successes failed: database is locked" in str(failed.value)
    assert "0.05 s busy timeout" in str(failed.value)


RSS = ("<rss version='2.0'><channel><title>t</title>{items}</channel></rss>")


def _rss(*keys: str) -> str:
    return RSS.format(items="".join(
        f"<item><title>Story {k}</title><link>https://news.example.org/{k}</link>"
        f"<guid>{k}</guid><pubDate>Mon, 30 Nov 2026 08:00:00 +0000</pubDate></item>"
        for k in keys))


async def test_a_cycle_hands_over_to_the_full_store_when_one_feed_has_news(
        feed_server: FeedServer, tmp_path: Path) -> None:
    # Two feeds answer 304, the third has a new item: the light store reads the states, the
    # new item opens the full store mid-poll, and the 304s (recorded after the round) and
    # the new item's post (dispatched, here previewed) go through the full store.
    urls = {name: feed_server.add(f"/{name}.xml", _rss(f"{name}1"), etag=f'"{name}"')
            for name in ("a", "b", "c")}
    sources = ", ".join(f"{{id: {n}, url: '{u}', fetch_pages: never}}" for n, u in urls.items())
    config = parse_config(
        f"store: {_url(tmp_path / 'newsbot.db')}\nbackfill: 3650d\nweb: {{enabled: false}}\n"
        f"sources: [{sources}]\nchannels:\n  tg: {{type: telegram, chat: '@c'}}\n",
        base_dir=tmp_path)
    with open_cycle_store(config.store_url) as cold:
        assert isinstance(cold, LightStore)  # it made the new file
        first = await run_cycle(config, cold, now=NOW)
    assert [p.new for p in first.polls] == [1, 1, 1]
    feed_server.add("/c.xml", _rss("c1", "c2"), etag='"c2"')

    with open_light_store(tmp_path / "newsbot.db") as light:
        second = await run_cycle(config, light, now=LATER)
        assert light.opened_full
        full = light.full()
        by_id = {p.source_id: p for p in second.polls}
        assert by_id["a"].not_modified and by_id["b"].not_modified
        assert by_id["c"].new == 1 and by_id["c"].known == 1
        states = full.source_states()
        assert {n: states[n].last_polled_at for n in "abc"} == dict.fromkeys("abc", LATER)
        assert states["c"].etag == '"c2"'
        assert second.dispatch.outcomes["previewed"] == 1
        assert [d.status for d in full.deliveries(channel="tg")].count(
            DeliveryStatus.SKIPPED) == 4  # every post previewed, the new one this cycle


async def test_a_cycle_with_nothing_new_and_nothing_due_never_opens_the_full_store(
        feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.add("/a.xml", _rss("a1"), etag='"a"')
    config = parse_config(
        f"store: {_url(tmp_path / 'newsbot.db')}\nbackfill: 3650d\nweb: {{enabled: false}}\n"
        f"sources: [{{id: a, url: '{url}', fetch_pages: never}}]\n"
        "channels:\n  tg: {type: telegram, chat: '@c'}\n", base_dir=tmp_path)
    with open_cycle_store(config.store_url) as cold:
        await run_cycle(config, cold, now=NOW)
    with open_light_store(tmp_path / "newsbot.db") as light:
        report = await run_cycle(config, light, now=LATER)
        assert not light.opened_full
    assert [p.not_modified for p in report.polls] == [True]
    assert not report.dispatch.outcomes
    assert report.previews == {"tg": "credentials missing (token not set)"}
    with open_store(config.store_url) as full:
        assert full.source_states()["a"].last_polled_at == LATER
