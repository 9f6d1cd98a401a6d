"""`newsbot status` on SQLite reads through the light store (bot/store/light.py), without
SQLAlchemy, and sees exactly what the full store would: each read, the whole view and the
printed output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import bot.store.light
from bot.cli import cli
from bot.config import parse_config
from bot.models import DeliveryStatus, FeedItem, NewDelivery, Receipt
from bot.operations import status
from bot.store import Store, open_store
from bot.store.light import LightStore
from bot.store.records import ChannelView
from tests.kit import open_light_store

NOW = datetime.now(UTC).replace(microsecond=654321)
CONFIG = """\
store: {url}
web: {{enabled: false}}
sources:
  - {{id: feed, url: 'https://news.example.org/feed.xml'}}
  - {{id: quiet, url: 'https://news.example.org/quiet.xml'}}
  - {{id: broken, url: 'https://news.example.org/broken.xml'}}
  - {{id: new, url: 'https://news.example.org/new.xml'}}
channels:
  tg: {{type: telegram, chat: '@c'}}
  x: {{type: x}}
  paused_tg: {{type: telegram, chat: '@p', enabled: false}}
"""


def _item(source: str, key: str, published: datetime) -> FeedItem:
    return FeedItem(source_id=source, guid=key, url=f"https://news.example.org/{source}/{key}",
                    title=f"Story {key}", summary="A summary.", sections=("World", "Ünïcode"),
                    published=published)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store as a running bot leaves it: sources, articles, deliveries in every outcome
    (unknown ones too), spend, two live workers and a dead one, channel states."""
    path = tmp_path / "newsbot.db"
    with open_store(f"sqlite:///{path}") as store:
        store.record_poll_success("feed", now=NOW, next_poll_at=NOW + timedelta(minutes=30),
                                  etag='"e1"', items=12, note="2 items skipped",
                                  parser="feedparser", parser_note="xml:base")
        store.record_poll_success("quiet", now=NOW - timedelta(days=3), next_poll_at=NOW)
        store.record_poll_failure("broken", now=NOW, error="HTTP 500",
                                  next_poll_at=NOW + timedelta(hours=1))
        items = [_item("feed", str(n), NOW - timedelta(hours=3 * n)) for n in range(25)]
        items += [_item("quiet", "q1", NOW - timedelta(days=9)),
                  _item("quiet", "q2", NOW - timedelta(days=6, microseconds=7))]
        stored = store.add_articles(items, now=NOW - timedelta(days=5),
                                    announced=[True] * len(items))
        ids = [article.id for article, _ in stored]
        for n, article_id in enumerate(ids[:12]):
            store.create_deliveries(article_id, [
                NewDelivery(channel="tg", due_at=NOW - timedelta(minutes=n), priority=n % 3),
                NewDelivery(channel="x", due_at=NOW + timedelta(minutes=n))], now=NOW)
        rows = store.deliveries()
        by_channel = {c: [d.id for d in rows if d.channel == c] for c in ("tg", "x")}
        for n, delivery_id in enumerate(by_channel["x"][:4]):
            store.mark_sent(delivery_id, Receipt(f"x{n}", url=f"https://x.example/{n}"),
                            now=NOW - timedelta(days=n * 20), cost=0.2 + n / 100)
        for delivery_id in by_channel["tg"][:3]:
            store.mark_sent(delivery_id, Receipt(str(delivery_id)), now=NOW)
        store.mark_unknown(by_channel["tg"][3], "timed out: it may be out", now=NOW)
        store.mark_unknown(by_channel["x"][5], "connection reset after sending", now=NOW)
        store.mark_failed(by_channel["tg"][4], "chat not found", now=NOW)
        store.heartbeat("w1", now=NOW - timedelta(seconds=30),
                        channels={"tg": ChannelView("live"), "x": ChannelView("preview", "no key")},
                        started_at=NOW - timedelta(hours=1))
        store.heartbeat("w2", now=NOW, channels={"tg": ChannelView("paused")},
                        started_at=NOW - timedelta(minutes=5))
        store.heartbeat("dead", now=NOW - timedelta(minutes=10), channels={},
                        started_at=NOW - timedelta(days=2))
        store.update_channel("tg", now=NOW, paused=True, attention="bot removed from chat")
        store.update_channel("gone", now=NOW, chat_override="-100123")
        # A channel since removed from the config keeps its rows.
        store.create_deliveries(ids[20], [NewDelivery(channel="gone", due_at=NOW)], now=NOW)
    return path


def test_the_light_store_reads_everything_status_needs_as_the_full_store_does(db: Path) -> None:
    since = NOW - timedelta(days=30)
    with open_store(f"sqlite:///{db}") as full, open_light_store(db) as light:
        for source in ("feed", "quiet", "broken", "new"):
            assert light.source_state(source) == full.source_state(source), source
            assert light.source_rhythm(source) == full.source_rhythm(source), source
            assert light.source_rhythm(source, 3) == full.source_rhythm(source, 3), source
        assert light.counts_by_status() == full.counts_by_status()
        assert light.channel_states() == full.channel_states()
        assert light.live_workers(NOW) == full.live_workers(NOW)
        unknown = [DeliveryStatus.UNKNOWN]
        assert light.deliveries(statuses=unknown) == full.deliveries(statuses=unknown)
        several = [DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.SENT]
        assert light.deliveries(statuses=several) == full.deliveries(statuses=several)
        for channel in ("tg", "x", "none"):
            assert light.spend_since(channel, since) == full.spend_since(channel, since)
        assert not light.opened_full
    # And the data were there to compare (not a comparison of empty answers):
    with open_light_store(db) as light:
        assert light.counts_by_status()["tg"] == {"failed": 1, "pending": 7, "sent": 3,
                                                  "unknown": 1}
        assert [w.worker for w in light.live_workers(NOW)] == ["w1", "w2"]
        assert light.live_workers(NOW)[0].channels["x"] == ChannelView("preview", "no key")
        assert light.channel_states()["tg"].paused is True
        unknown_rows = light.deliveries(statuses=[DeliveryStatus.UNKNOWN])
        assert [(d.channel, d.status) for d in unknown_rows] == [
            ("tg", DeliveryStatus.UNKNOWN), ("x", DeliveryStatus.UNKNOWN)]
        assert all(t.tzinfo is UTC for d in unknown_rows
                   for t in (d.due_at, d.created_at, d.updated_at) if t is not None)
        posts, dollars = light.spend_since("x", since)
        assert (posts, round(dollars, 2)) == (2, 0.41)
        last, published = light.source_rhythm("feed")
        assert last == NOW - timedelta(days=5) and len(published) == 20
        assert published[0] == NOW and published[0].tzinfo is UTC


def test_the_status_view_is_the_same_through_both_stores(db: Path, tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(url=f"sqlite:///{db}"), base_dir=tmp_path)
    with open_store(config.store_url) as full:
        expected = status(config, full, now=NOW)
    with open_light_store(db) as light:
        view = status(config, light, now=NOW)
        assert not light.opened_full
    assert view == expected
    assert view.unknown and view.spend and view.workers and view.removed_channels


def test_a_read_status_does_not_answer_opens_the_full_store(db: Path) -> None:
    with open_store(f"sqlite:///{db}") as full:
        expected = full.deliveries(channel="x", newest_first=True, limit=3)
    with open_light_store(db) as light:
        assert light.deliveries(channel="x", newest_first=True, limit=3) == expected
        assert light.opened_full
        # and every later read goes there too, with the same answers
        assert light.counts_by_status()["x"]["sent"] == 4


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_newsbot_status_prints_the_same_through_both_stores(
        db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verbose: list[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url=f"sqlite:///{db}"), encoding="utf-8")
    args = ["--config", str(config), "status", *verbose]
    opened: list[LightStore | Store] = []
    light_open = bot.store.light.open_cycle_store

    def recording(url: str) -> LightStore | Store:
        opened.append(light_open(url))
        return opened[-1]

    monkeypatch.setattr(bot.store.light, "open_cycle_store", recording)
    light = CliRunner().invoke(cli, args)
    assert isinstance(opened[-1], LightStore) and not opened[-1].opened_full
    monkeypatch.setattr(bot.store.light, "open_cycle_store", open_store)
    full = CliRunner().invoke(cli, args)
    assert light.exit_code == full.exit_code == 0, light.output
    assert light.output == full.output
    assert "unknown outcome" in light.output and "NEEDS ATTENTION" in light.output
    assert ("read by feedparser" in light.output) is bool(verbose)


def test_every_store_answers_the_status_reads_with_typed_values(store: Store) -> None:
    # The full store runs status_sql's text on PostgreSQL too ($n placeholders, psycopg's
    # naive datetimes and booleans read as SQLite's are).
    (article, _), = store.add_articles([_item("feed", "1", NOW)], now=NOW, announced=[True])
    store.create_deliveries(article.id, [NewDelivery(channel="x", due_at=NOW),
                                         NewDelivery(channel="tg", due_at=NOW)], now=NOW)
    sent, lost = sorted(store.deliveries(), key=lambda d: d.channel != "x")
    store.mark_sent(sent.id, Receipt("1"), now=NOW, cost=0.25)
    store.mark_unknown(lost.id, "timed out", now=NOW)
    store.update_channel("tg", now=NOW, paused=True)
    store.heartbeat("w", now=NOW, channels={"x": ChannelView("live")})
    assert store.spend_since("x", NOW) == (1, 0.25)
    assert store.spend_since("x", NOW + timedelta(microseconds=1)) == (0, 0.0)
    assert store.counts_by_status() == {"x": {"sent": 1}, "tg": {"unknown": 1}}
    assert store.channel_states()["tg"].paused is True
    (unknown,) = store.deliveries(statuses=[DeliveryStatus.UNKNOWN])
    assert (unknown.id, unknown.last_error, unknown.updated_at) == (lost.id, "timed out", NOW)
    assert unknown.due_at.tzinfo is UTC
    assert store.source_state("feed").source_id == "feed"
    (worker,) = store.live_workers(NOW + timedelta(minutes=1))
    assert worker.seen_at == NOW and worker.seen_at.tzinfo is UTC
