"""The store queries behind the operators' views, on SQLite and PostgreSQL: workers'
heartbeats, a source's rhythm, outbox rows since a time, readers who left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import DeliveryStatus, FeedItem, NewDelivery
from bot.store import ChannelView, Store

NOW = datetime(2026, 11, 24, 9, tzinfo=UTC)


def test_heartbeats_are_upserted_read_back_and_forgotten(store: Store) -> None:
    store.heartbeat("w:1", now=NOW - timedelta(minutes=1), started_at=NOW - timedelta(hours=1),
                    channels={"tg": ChannelView("needs attention", "TOKEN not set — «ар»")})
    store.heartbeat("w:1", now=NOW, channels={"tg": ChannelView("live")})
    store.heartbeat("w:2", now=NOW - timedelta(minutes=10), channels={})
    (worker,) = store.live_workers(NOW)
    assert worker.worker == "w:1" and worker.seen_at == NOW
    assert worker.started_at == NOW - timedelta(hours=1)
    assert worker.channels == {"tg": ChannelView("live")}
    store.forget_worker("w:1")
    assert store.live_workers(NOW) == []


def test_a_worker_that_died_long_ago_is_swept_away(store: Store) -> None:
    store.heartbeat("dead:1", now=NOW - timedelta(days=2), channels={})
    store.heartbeat("new:2", now=NOW, channels={})
    with store.engine.connect() as conn:
        from sqlalchemy import select

        from bot.store import schema
        names = set(conn.scalars(select(schema.workers.c.worker)))
    assert names == {"new:2"}


def test_a_sources_rhythm_and_the_newest_article(store: Store) -> None:
    for n in range(3):
        store.add_article(FeedItem(source_id="en", guid=f"g{n}", url=f"https://e.org/{n}",
                                   title=f"T{n}", published=NOW - timedelta(hours=n)),
                          now=NOW + timedelta(minutes=n))
    last, published = store.source_rhythm("en")
    assert last == NOW + timedelta(minutes=2)
    assert published == [NOW - timedelta(hours=n) for n in range(3)]
    newest = store.newest_article()
    assert newest is not None and newest.title == "T2"
    assert store.source_rhythm("nosuch") == (None, [])


def test_deliveries_since_a_time(store: Store) -> None:
    article, _ = store.add_article(FeedItem(source_id="en", guid="g", url="https://e.org/g",
                                            title="T", published=NOW), now=NOW)
    store.create_deliveries(article.id, [NewDelivery(channel="tg", due_at=NOW)], now=NOW)
    (delivery,) = store.deliveries()
    store.mark_failed(delivery.id, "Bad Request", now=NOW)
    failed = [DeliveryStatus.FAILED]
    assert len(store.deliveries(statuses=failed, since=NOW - timedelta(hours=1))) == 1
    assert store.deliveries(statuses=failed, since=NOW + timedelta(hours=1)) == []
    (row,) = store.deliveries(statuses=failed)
    assert row.updated_at == NOW


def test_readers_who_left_are_found_among_many(store: Store) -> None:
    emails = [f"r{n}@example.com" for n in range(1200)]
    store.add_subscribers("digest", emails, status="active", now=NOW)
    for email in ("r3@example.com", "r1100@example.com"):
        sub = store.get_subscriber("digest", email)
        assert sub is not None
        store.unsubscribe(sub.id, now=NOW)
    assert store.unsubscribed_among("digest", emails) == {"r3@example.com",
                                                          "r1100@example.com"}
