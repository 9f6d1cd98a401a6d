"""Editors' controls end to end: a fake clock, the real store, an in-memory channel.

The dispatcher is driven tick by tick with an injected clock; the channel is an in-memory
fake of the Channel protocol that records when each post went.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from bot import editor
from bot.channels.telegram import make_format
from bot.cli import cli
from bot.config import Config, parse_config
from bot.dispatch import Dispatcher
from bot.models import Article, DeliveryStatus, FeedItem, Receipt, RenderedPost
from bot.outlets import Outlet
from bot.plan import Why, plan_article
from bot.render import make_environment
from bot.store import Store, open_store
from tests.kit import WallClock

BAGHDAD = ZoneInfo("Asia/Baghdad")
CONFIG = """
timezone: Asia/Baghdad
sources: [{id: en, url: feed.xml}]
channels:
  tg:
    type: telegram
    chat: "@c"
    token: x
    photo: never
    schedule:
      windows: ["07:00-12:00"]
      min_gap: 20m
      max_per_day: 12
      priority: {sections: [Breaking]}
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BAGHDAD)


class RecordingChannel:
    """An in-memory Channel: remembers which article went at what (fake) time."""

    def __init__(self, clock: WallClock) -> None:
        self.name = "tg"
        self.clock = clock
        self.sent: list[tuple[datetime, int]] = []

    async def send(self, post: RenderedPost) -> Receipt:
        self.sent.append((self.clock(), post.article_id))
        return Receipt(platform_id=str(len(self.sent)))

    async def close(self) -> None:
        return None


def add_article(store: Store, config: Config, n: int, now: datetime,
                sections: tuple[str, ...] = ()) -> Article:
    article, _ = store.add_article(FeedItem(
        source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}", title=f"Title {n}",
        summary="A summary sentence.", sections=sections, published=now), now=now)
    store.create_deliveries(article.id, plan_article(article, config, now=now), now=now)
    return article


def dispatcher(store: Store, config: Config, clock: WallClock
               ) -> tuple[Dispatcher, RecordingChannel]:
    channel = RecordingChannel(clock)
    cfg = config.channels["tg"]
    outlets = {"tg": Outlet("tg", cfg, make_format(cfg), channel)}
    return Dispatcher(config=config, store=store, outlets=outlets,
                      env=make_environment(config), clock=clock,
                      pace_sleep=_no_wait), channel


async def _no_wait(_: float) -> None:
    # The clock here is fake: waiting out Telegram's 1 s pace in real time would only slow
    # the test (the store still refuses a second post within the pace at the same instant).
    await asyncio.sleep(0)


async def run_until(d: Dispatcher, clock: WallClock, end: datetime) -> None:
    """Tick every 10 minutes around the window, hourly at night."""
    while clock.now < end:
        await d.run_once()
        local = clock.now.astimezone(BAGHDAD)
        clock.now += timedelta(minutes=10 if 6 <= local.hour < 13 else 60)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config(CONFIG, base_dir=tmp_path)


async def test_a_burst_of_30_is_spread_over_the_window_by_gap_and_cap_as_planned(
        sqlite_store: Store, config: Config) -> None:
    store, start = sqlite_store, at("2026-11-24 06:00")
    for n in range(30):
        add_article(store, config, n, start.astimezone(UTC))
    (predicted,) = editor.plan(config, store, now=start.astimezone(UTC))
    clock = WallClock(start)
    d, channel = dispatcher(store, config, clock)
    await run_until(d, clock, at("2026-11-26 13:00"))

    times = [t.astimezone(BAGHDAD) for t, _ in channel.sent]
    assert len(times) == 30
    per_day = {day: [t for t in times if t.date() == day] for day in {t.date() for t in times}}
    assert sorted(len(v) for v in per_day.values()) == [6, 12, 12]  # the daily cap
    for day_times in per_day.values():
        assert all(7 <= t.hour < 12 for t in day_times)  # inside the window
        gaps = [b - a for a, b in pairwise(day_times)]
        assert all(g >= timedelta(minutes=20) for g in gaps)  # the gap
    assert times[0] == at("2026-11-24 07:00") and times[11] == at("2026-11-24 10:40")
    assert times[12] == at("2026-11-25 07:00")
    # `newsbot plan` said so beforehand, post for post.
    assert [(p.at, p.delivery.article_id) for p in predicted.posts] == channel.sent
    assert predicted.posts[0].why is Why.WINDOW and predicted.posts[12].why is Why.CAP


async def test_a_breaking_item_jumps_the_queue_and_the_gap(store: Store, config: Config) -> None:
    start = at("2026-11-24 08:00")
    for n in range(3):
        add_article(store, config, n, start.astimezone(UTC))
    clock = WallClock(start)
    d, channel = dispatcher(store, config, clock)
    await d.run_once()  # 08:00: the first ordinary post
    clock.now = at("2026-11-24 08:05")
    breaking = add_article(store, config, 99, clock(), sections=("Breaking",))
    await d.run_once()
    assert channel.sent[-1] == (clock(), breaking.id)  # 5 minutes after the last: no gap
    clock.now = at("2026-11-24 08:20")
    await d.run_once()
    assert len(channel.sent) == 2  # the ordinary ones wait a full gap after the breaking one
    clock.now = at("2026-11-24 08:25")
    await d.run_once()
    assert len(channel.sent) == 3


async def test_pause_and_resume_hold_across_a_restart(store_url: str, config: Config) -> None:
    now = at("2026-11-24 08:00").astimezone(UTC)
    first = open_store(store_url)
    add_article(first, config, 1, now)
    editor.pause(config, first, "tg", now=now)
    first.close()

    restarted = open_store(store_url)  # a new process: only the store remembers
    try:
        d, channel = dispatcher(restarted, config, WallClock(now))
        await d.run_once()
        assert channel.sent == []
        (entry,) = editor.plan(config, restarted, now=now)
        assert entry.paused and entry.posts[0].why is Why.PAUSED
        editor.resume(config, restarted, "tg", now=now)
        await d.run_once()
        assert len(channel.sent) == 1
    finally:
        restarted.close()


async def test_hold_release_skip_and_post_now(store: Store, config: Config) -> None:
    now = at("2026-11-24 06:00").astimezone(UTC)  # before the window opens
    a, b, c = (add_article(store, config, n, now) for n in range(3))
    ids = {d.article_id: d.id for d in store.deliveries()}
    editor.hold(store, ids[a.id], now=now)
    editor.skip(store, ids[b.id], now=now)
    editor.post_now(store, ids[c.id], now=now)
    clock = WallClock(at("2026-11-24 06:00"))
    d, channel = dispatcher(store, config, clock)
    await d.run_once()
    assert [aid for _, aid in channel.sent] == [c.id]  # post-now ignores the closed window
    clock.now = at("2026-11-24 09:00")
    await d.run_once()
    assert len(channel.sent) == 1  # held and skipped stay put
    assert store.get_delivery(ids[b.id]).status is DeliveryStatus.SKIPPED
    assert store.get_delivery(ids[b.id]).note == "skipped by an editor"
    editor.release(store, ids[a.id], now=now)
    await d.run_once()
    assert [aid for _, aid in channel.sent] == [c.id, a.id]


def test_actions_on_the_wrong_state_or_id_say_why(store: Store, config: Config) -> None:
    now = datetime(2026, 11, 24, 6, tzinfo=UTC)
    add_article(store, config, 1, now)
    (delivery,) = store.deliveries()
    with pytest.raises(ValueError, match="only held deliveries can be released"):
        editor.release(store, delivery.id, now=now)
    with pytest.raises(LookupError, match="no delivery has id 999"):
        editor.hold(store, 999, now=now)
    with pytest.raises(LookupError, match="no channel is named 'tgg'"):
        editor.pause(config, store, "tgg", now=now)


@pytest.fixture
def project_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    yield tmp_path


def test_the_cli_lists_the_queue_and_the_plan_and_acts_by_id(project_dir: Path) -> None:
    from bot.config import load_config

    config = load_config(project_dir / "config.yaml")
    store = open_store(config.store_url)
    try:
        add_article(store, config, 1, datetime.now(UTC))
        (delivery,) = store.deliveries()
    finally:
        store.close()

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--config", str(project_dir / "config.yaml"), *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert f"{delivery.id:<7} tg" in run("queue") and "Title 1" in run("queue")
    assert "Title 1" in run("plan") and "tg  [Asia/Baghdad" in run("plan")
    assert "held" in run("hold", str(delivery.id))
    assert "HELD" in run("queue") and "held" in run("plan")
    run("release", str(delivery.id))
    assert "next dispatch tick" in run("post-now", str(delivery.id))
    assert "paused" in run("pause", "tg") and "PAUSED" in run("plan")
    run("resume", "tg")
    assert "never be posted" in run("skip", str(delivery.id))
    assert "the queue is empty" in run("queue")
