"""One slow site holds up only its own source, and only until the source's deadline: the other
sources' new items go out on time, `once` ends, and the slow items keep the feed's summary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Fetching, load_config
from bot.errors import SourceError
from bot.ingest.fetch import Deadline, Fetcher
from bot.models import DeliveryStatus
from bot.scheduler import Service
from bot.settings import RuntimeSettings
from bot.store import Store, open_store
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.feed_server import FeedServer

PAGE = "<html><body><article><p>" + "A page that never finishes arriving. " * 20 + \
       "</p></article></body></html>"


def rss(*items: tuple[str, str, str]) -> str:
    """An RSS feed of (guid, link, summary) items, published now (so none is backfill)."""
    date = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    body = "".join(
        f"<item><guid>{guid}</guid><title>Story {guid}</title><link>{link}</link>"
        f"<description>{summary}</description><pubDate>{date}</pubDate></item>"
        for guid, link, summary in items)
    return ("<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
            f"{body}</channel></rss>")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- one source, `once`


def test_once_with_ten_items_on_a_dripping_site_ends_by_the_source_deadline(
        feed_server: FeedServer, tmp_path: Path) -> None:
    # Each item's summary is a teaser, so its page is wanted; every page drips 1 byte a second.
    items = [(f"g{n}", feed_server.add_drip(f"/story/{n}", PAGE), "Teaser.") for n in range(10)]
    feed = feed_server.add("/feed.xml", rss(*items))
    config = write(tmp_path / "config.yaml", f"""
timezone: UTC
store: sqlite:///{tmp_path}/bot.db
fetch: {{timeout: 1s, source_deadline: 1.5, allow_private: [127.0.0.0/8]}}
sources: [{{id: slow, url: "{feed}"}}]
""")
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--config", str(config), "once"])
    took = time.monotonic() - started
    assert result.exit_code == 0, result.output
    # Two slots for the host, a 1 s timeout per page: without one deadline for the source
    # the ten pages queue for 5 s; with it the poll ends at 1.5 s (plus start-up).
    assert took < 3.5, f"once took {took:.1f}s"
    assert "10 new" in result.output
    assert "deadline" in result.output

    store = open_store(f"sqlite:///{tmp_path}/bot.db")
    try:
        assert sorted(a.summary for a in store.get_articles(range(1, 11)).values()) == \
            ["Teaser."] * 10  # stored with the feed's own summary, none dropped
    finally:
        store.close()
    status = CliRunner().invoke(cli, ["--config", str(config), "status"])
    line = next(x for x in status.output.splitlines() if x.strip().startswith("slow"))
    assert "ok; last poll: page for" in line and "1.5s deadline" in line


async def test_a_fetch_waiting_for_a_busy_host_gives_up_at_the_deadline(
        feed_server: FeedServer) -> None:
    slow = feed_server.add_drip("/slow", PAGE)
    other = feed_server.add("/other", "<html>quick</html>", content_type="text/html")
    settings = Fetching.model_validate({"timeout": "5s", "per_host": 1,
                                        "allow_private": ["127.0.0.0/8"]})
    async with Fetcher(settings) as fetcher:
        hog = asyncio.create_task(fetcher.fetch(slow, source_id="a"))
        await asyncio.sleep(0.2)  # the host's one slot is taken for 5 s
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"waiting for a free slot for 127\.0\.0\.1"):
            await fetcher.fetch(other, source_id="b", deadline=Deadline.after(0.5))
        assert time.monotonic() - started < 1.5
        hog.cancel()


def test_the_source_deadline_defaults_to_three_fetch_timeouts() -> None:
    assert Fetching.model_validate({"timeout": "7s"}).deadline == timedelta(seconds=21)
    assert Fetching.model_validate({"source_deadline": "45s"}).deadline == timedelta(seconds=45)


# ---------------------------------------------------------------- `newsbot run`


@pytest.fixture
def telegram() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        yield server


async def test_a_dripping_page_on_one_source_does_not_delay_another_sources_new_item(
        feed_server: FeedServer, telegram: FakeTelegramAPI, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    # Two dripping pages on the same host as both feeds: they hold both of its per-host slots.
    slow = feed_server.add("/slow.xml", rss(
        ("s1", feed_server.add_drip("/slow/story-1", PAGE), "Teaser."),
        ("s2", feed_server.add_drip("/slow/story-2", PAGE), "Teaser.")))
    summary = "A healthy source's story, with a summary long enough to stand on its own. " * 2
    fast = feed_server.add("/fast.xml", rss(("f1", "https://news.example.org/f1", summary)))
    # The default fetch timeout (20 s, so a 60 s deadline): the slow source stays busy for
    # the whole test, as a real dripping site would.
    path = write(tmp_path / "config.yaml", f"""
timezone: UTC
store: sqlite:///{tmp_path}/bot.db
web: {{enabled: false}}
dispatch_every: 1s
fetch: {{allow_private: [127.0.0.0/8]}}  # the dripping page is on loopback
sources:
  - {{id: slow, url: "{slow}", every: 1s}}
  - {{id: fast, url: "{fast}", every: 1s}}
channels:
  tg:
    type: telegram
    token: ${{TELEGRAM_BOT_TOKEN}}
    api_url: {telegram.base_url}
    chat: "@news"
    photo: never
    route: {{sources: [fast]}}
""")
    config = load_config(path)
    store: Store = open_store(config.store_url)
    # A 1.5 s poll lease makes the poll job tick every 0.5 s.
    service = Service(path, config, store, worker="w-test",
                      settings=RuntimeSettings(lease_ttl=timedelta(seconds=1.5)))
    try:
        await service.start()
        await _until(lambda: len(telegram.messages) == 1, within=5)  # f1, the first poll
        assert {"/slow/story-1", "/slow/story-2"} <= {r.path for r in feed_server.requests}
        assert store.source_state("slow").last_polled_at is None  # still waiting for its page

        published = time.monotonic()
        feed_server.add("/fast.xml", rss(
            ("f2", "https://news.example.org/f2", summary),
            ("f1", "https://news.example.org/f1", summary)))
        await _until(lambda: len(telegram.messages) == 2, within=10)
        took = time.monotonic() - published
    finally:
        await service.stop(grace=timedelta(seconds=0.1))
        store.close()
    # The next poll tick (0.5 s), then the next dispatch tick (1 s) and the chat's pace:
    # about 1.5 s (a loaded machine: a few more), never the slow page's 20 s.
    assert took < 6, f"the healthy source's new item took {took:.1f}s"
    assert "Story f2" in telegram.messages[1].text
    assert {d.status for d in service.store.deliveries()} == {DeliveryStatus.SENT}


async def _until(condition: object, *, within: float) -> None:
    assert callable(condition)
    end = time.monotonic() + within
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not within {within}s")
        await asyncio.sleep(0.05)
