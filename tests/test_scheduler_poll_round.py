"""`newsbot run`'s poll rounds: the sources' states are read once a round, not once a source,
and a round that will surely have many feeds to parse starts the parser process first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.config import load_config
from bot.ingest import parsebudget
from bot.ingest.parsebudget import QUEUE_AFTER
from bot.scheduler import Service
from bot.settings import RuntimeSettings
from bot.store import open_store
from tests.feed_server import FeedServer

FEED = ("<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><item>"
        "<guid>{n}</guid><title>Story {n}</title><link>https://news.example.org/{n}</link>"
        "<pubDate>{date}</pubDate></item></channel></rss>")


@pytest.fixture
def fresh_parser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This test's own parser process state: another test in this process may have started
    one already, which would hide whether this round started it."""
    monkeypatch.setattr(parsebudget, "_serial", None)
    monkeypatch.setattr(parsebudget, "_pool", None)
    yield
    _forget_parser()


def _forget_parser() -> None:
    for kept in (parsebudget._serial, parsebudget._pool):
        if kept is not None:
            kept.close()
    parsebudget._serial = parsebudget._pool = None


async def test_a_round_reads_the_states_once_and_starts_the_parser_before_the_bodies(
        feed_server: FeedServer, tmp_path: Path, fresh_parser: None) -> None:
    date = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    urls = [feed_server.add(f"/{n}.xml", FEED.format(n=n, date=date), etag=f'"v{n}"')
            for n in range(QUEUE_AFTER)]
    sources = "\n".join(f"  - {{id: s{n}, url: '{url}', every: 1s, fetch_pages: never}}"
                        for n, url in enumerate(urls))
    path = tmp_path / "config.yaml"
    path.write_text(f"store: sqlite:///{tmp_path}/bot.db\nweb: {{enabled: false}}\n"
                    f"backfill: 3650d\nsources:\n{sources}\nchannels: {{}}\n",
                    encoding="utf-8")
    config = load_config(path)
    store = open_store(config.store_url)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)


    event.listen(store.engine, "before_cursor_execute", record)
    service = Service(path, config, store, worker="w-test",
                      settings=RuntimeSettings(lease_ttl=timedelta(seconds=30)))
    try:
        await service.start()
        assert service.scheduler is not None
        service.scheduler.pause()  # the test is the clock: ticks are called by hand
        await _round_done(service)  # the start's own first round, if it ran
        for source in config.sources:  # every feed due again, as at a bot's first start
            store.record_poll_success(source.id, now=datetime.now(UTC),
                                      next_poll_at=datetime.now(UTC))
        _forget_parser()  # the first round's bodies started one: this round must start its own
        statements.clear()
        await service.poll_tick()
        # The round's polls are created, none has fetched yet: 16 feeds with nothing to
        # make their requests conditional (no ETag stored), so the parser process is
        # already on its way.
        assert parsebudget._serial is not None and parsebudget._serial.started
        await _round_done(service)
        reads = [s for s in statements if s.startswith("SELECT") and "FROM sources" in s]
        # One query for the round's states, none a source (the desk's alerts may read them
        # too, on their own clock).
        assert [s for s in reads if "WHERE id =" in s] == []
        assert reads
        assert all(store.source_state(s.id).etag for s in config.sources)  # all polled
        assert sum(1 for r in feed_server.requests if r.path.endswith(".xml")) >= QUEUE_AFTER
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
        await service.stop(grace=timedelta(seconds=0.1))
        store.close()


async def _round_done(service: Service) -> None:
    for _ in range(400):
        if not service._source_polls:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the round's polls did not end within 10 s")
