"""`newsbot queue` on SQLite reads through the light store (bot/store/light.py), without
SQLAlchemy, and sees exactly what the full store would: each read, the queue and plan views
and the printed output (with and without --channel, an unknown channel refused alike)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import bot.store.light
from bot import editor
from bot.cli import cli
from bot.config import parse_config
from bot.models import ChannelHistory, DeliveryStatus, FeedItem, NewDelivery, Receipt
from bot.plan import PRIORITY_HIGH
from bot.store import Store, open_store
from bot.store.light import LightStore
from tests.kit import open_light_store

NOW = datetime.now(UTC).replace(microsecond=123456)
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.AWAITING, DeliveryStatus.HELD)
CONFIG = """\
store: {url}
web: {{enabled: false}}
sources:
  - {{id: feed, url: 'https://news.example.org/feed.xml'}}
channels:
  tg: {{type: telegram, chat: '@c', schedule: {{min_gap: 10m, max_per_day: 30}}}}
  x: {{type: x}}
"""


def _item(key: str) -> FeedItem:
    return FeedItem(source_id="feed", guid=key, url=f"https://news.example.org/{key}",
                    title=f"Story {key} — Ünïcode", summary="A summary.", sections=("World",),
                    published=NOW - timedelta(hours=int(key)))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with a queue across channels: pending, queued (negative priority), priority,
    held and awaiting-approval deliveries, posts sent, in flight and of unknown outcome, a
    paused channel and one since removed from the config."""
    path = tmp_path / "newsbot.db"
    with open_store(f"sqlite:///{path}") as store:
        stored = store.add_articles([_item(str(n)) for n in range(14)],
                                    now=NOW - timedelta(days=1), announced=[True] * 14)
        ids = [article.id for article, _ in stored]
        for n, article_id in enumerate(ids[:8]):
            store.create_deliveries(article_id, [
                NewDelivery(channel="tg", due_at=NOW + timedelta(minutes=n),
                            priority=(0, PRIORITY_HIGH, -1)[n % 3]),
                NewDelivery(channel="x", due_at=NOW - timedelta(minutes=n))], now=NOW)
        store.create_deliveries(ids[8], [NewDelivery(channel="tg", due_at=NOW,
                                                     status=DeliveryStatus.AWAITING)], now=NOW)
        store.create_deliveries(ids[9], [NewDelivery(channel="gone", due_at=NOW)], now=NOW)
        rows = store.deliveries()
        tg = [d.id for d in rows if d.channel == "tg"]
        x = [d.id for d in rows if d.channel == "x"]
        editor.hold(store, tg[2], now=NOW)
        editor.hold(store, x[0], now=NOW)
        for n, delivery_id in enumerate(x[4:8]):  # the last one sent too long ago to count
            store.mark_sent(delivery_id, Receipt(f"x{n}"), now=NOW - timedelta(days=3 * n))
        store.mark_unknown(tg[7], "timed out: it may be out", now=NOW - timedelta(minutes=3))
        store.claim("tg", now=NOW, worker="w1", lease=timedelta(minutes=5),
                    pick=lambda history, candidates, now: [candidates[0].id], limit=50)
        store.update_channel("x", now=NOW, paused=True)
    return path


def test_the_light_store_reads_everything_queue_needs_as_the_full_store_does(db: Path) -> None:
    with open_store(f"sqlite:///{db}") as full, open_light_store(db) as light:
        for channel in (None, "tg", "x", "gone", "none"):
            assert (light.deliveries(statuses=WAITING, channel=channel)
                    == full.deliveries(statuses=WAITING, channel=channel)), channel
            assert light.channel_history(channel or "tg", NOW) == full.channel_history(
                channel or "tg", NOW), channel
        assert light.deliveries(statuses=[], channel="tg") == []
        waiting = full.deliveries(statuses=WAITING)
        ids = [d.article_id for d in waiting]
        assert light.get_articles(ids) == full.get_articles(ids)
        # More ids than one query binds, repeats and ids no article has: the same answer,
        # and each article as the full store reads it by itself.
        many = [*range(1, 1200), *ids]
        articles = light.get_articles(many)
        assert articles == full.get_articles(many)
        assert articles == {i: full.get_article(i) for i in range(1, 15)}
        assert light.get_articles([]) == {}
        assert light.counts_by_status() == full.counts_by_status()
        assert light.channel_states() == full.channel_states()
        assert not light.opened_full
    # And the data were there to compare (not a comparison of empty answers):
    with open_light_store(db) as light:
        rows = light.deliveries(statuses=WAITING, channel="tg")
        assert {d.status for d in rows} == set(WAITING)
        assert rows[0].priority == PRIORITY_HIGH and rows[-1].priority == -1
        assert {d.channel for d in light.deliveries(statuses=WAITING)} == {"tg", "x", "gone"}
        tg = light.channel_history("tg", NOW)
        assert tg.in_flight == 1 and len(tg.recent) == 2  # the claim and the unknown outcome
        assert tg.recent[0] == NOW and tg.recent[0].tzinfo is UTC
        x = light.channel_history("x", NOW)
        assert x == ChannelHistory("x", (NOW, NOW - timedelta(days=3),
                                         NOW - timedelta(days=6)), 0)
        assert light.channel_history("none", NOW) == ChannelHistory("none", (), 0)


def test_the_queue_and_plan_views_are_the_same_through_both_stores(db: Path,
                                                                   tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(url=f"sqlite:///{db}"), base_dir=tmp_path)
    for channel in ("tg", "x", "gone", None):
        with open_store(config.store_url) as full:
            expected = (editor.queue(config, full, channel=channel, now=NOW),
                        editor.plan(config, full, now=NOW, channel=channel))
        with open_light_store(db) as light:
            views = (editor.queue(config, light, channel=channel, now=NOW),
                     editor.plan(config, light, now=NOW, channel=channel))
            assert not light.opened_full
        assert views == expected, channel
    entries, plans = views  # every channel's
    assert len(entries) == 12 and all(e.title.startswith("Story") for e in entries)
    assert [(p.channel, p.paused, p.removed) for p in plans] == [
        ("tg", False, False), ("x", True, False), ("gone", False, True)]
    assert any(e.due_local is not None for e in entries)  # times the history paced


def _invoke(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opener: Any,
            *args: str, command: str = "queue") -> Any:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url=f"sqlite:///{db}"), encoding="utf-8")
    monkeypatch.setattr(bot.store.light, "open_cycle_store", opener)
    return CliRunner().invoke(cli, ["--config", str(config), command, *args])


def _through_both_stores(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         command: str, args: list[str]) -> Any:
    """``newsbot COMMAND ARGS`` through the light store (which must answer it alone), then
    through the full store: the same exit status and the same words. The light run's result;
    None after a channel name that is a typo (refused, by both, in the same words)."""
    opened: list[LightStore | Store] = []
    light_open = bot.store.light.open_cycle_store

    def recording(url: str, **kwargs: Any) -> LightStore | Store:
        opened.append(light_open(url, **kwargs))
        return opened[-1]

    light = _invoke(db, tmp_path, monkeypatch, recording, *args, command=command)
    assert isinstance(opened[-1], LightStore) and not opened[-1].opened_full
    full = _invoke(db, tmp_path, monkeypatch, lambda url, **kwargs: open_store(url, **kwargs),
                   *args, command=command)
    assert light.exit_code == full.exit_code, light.output
    assert light.output == full.output
    if args[-1:] == ["nope"]:
        assert light.exit_code != 0 and "no channel is named 'nope'" in light.output
        return None
    assert light.exit_code == 0, light.output
    return light


@pytest.mark.parametrize("args", [[], ["--channel", "tg"], ["--channel", "gone"],
                                  ["--channel", "nope"]])
def test_newsbot_queue_prints_the_same_through_both_stores(
        db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    light = _through_both_stores(db, tmp_path, monkeypatch, "queue", args)
    if light is None:
        return
    shown = {line.split()[2] for line in light.output.splitlines()[1:]}
    expected = {"gone": {"pending"}, "tg": {"pending", "priority", "queued", "HELD", "APPROVE?"}}
    assert shown == expected[args[-1] if args else "tg"]  # every kind of row, all channels


def test_every_store_answers_the_queue_reads_with_typed_values(store: Store) -> None:
    # The full store runs the shared text on PostgreSQL too ($n placeholders, psycopg's
    # naive datetimes read as SQLite's are).
    stored = store.add_articles([_item("1"), _item("2")], now=NOW, announced=[True, True])
    (first, _), (second, _) = stored
    store.create_deliveries(first.id, [NewDelivery(channel="x", due_at=NOW),
                                       NewDelivery(channel="tg", due_at=NOW)], now=NOW)
    store.create_deliveries(second.id, [NewDelivery(channel="x", due_at=NOW, priority=5)],
                            now=NOW)
    sent = next(d for d in store.deliveries() if d.channel == "tg")
    store.mark_sent(sent.id, Receipt("1"), now=NOW)
    rows = store.deliveries(statuses=WAITING, channel="x")
    assert [(d.article_id, d.priority) for d in rows] == [(second.id, 5), (first.id, 0)]
    assert store.deliveries(statuses=WAITING, channel="tg") == []
    assert store.get_articles([second.id, first.id, second.id, 10**6]) == {
        first.id: store.get_article(first.id), second.id: store.get_article(second.id)}
    history = store.channel_history("tg", NOW + timedelta(days=1))
    assert history == ChannelHistory("tg", (NOW,), 0) and history.recent[0].tzinfo is UTC
    assert store.channel_history("tg", NOW + timedelta(days=9)).recent == ()


@pytest.mark.parametrize("args", [[], ["--channel", "x"], ["--channel", "gone"],
                                  ["--channel", "nope"]])
def test_newsbot_plan_prints_the_same_through_both_stores(
        db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    light = _through_both_stores(db, tmp_path, monkeypatch, "plan", args)
    if light is None:
        return
    if args[-1:] == ["x"]:
        assert "PAUSED" in light.output and "#" in light.output  # its posts, listed
    if args[-1:] == ["gone"]:
        assert "REMOVED from config.yaml" in light.output
