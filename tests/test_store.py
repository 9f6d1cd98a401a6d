"""The store on SQLite and PostgreSQL: dedup, the outbox's states, leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.models import DeliveryStatus, FeedItem, Receipt
from bot.store import NewDelivery, Store

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def item(n: int = 1, **kw: object) -> FeedItem:
    values: dict[str, object] = {"source_id": "en", "guid": f"guid-{n}",
                                 "url": f"https://news.example.org/a/{n}", "title": f"Title {n}"}
    values.update(kw)
    return FeedItem(**values)  # type: ignore[arg-type]


def take_all(history: object, candidates: list, now: datetime) -> list[int]:
    return [d.id for d in candidates]


def test_an_article_is_stored_once_per_url_and_per_guid(store: Store) -> None:
    first, new = store.add_article(item(1), now=NOW)
    assert new
    assert store.add_article(item(1, guid="another-guid"), now=NOW) == (first, False)
    assert store.add_article(item(1, url="https://news.example.org/moved"), now=NOW)[1] is False
    assert store.count_articles() == 1


def test_a_corrected_title_updates_the_article_without_announcing_it(store: Store) -> None:
    first, _ = store.add_article(item(1), now=NOW)
    _, new = store.add_article(item(1, title="Corrected"), now=NOW)
    assert not new
    assert store.get_article(first.id).title == "Corrected"


def test_a_very_long_guid_is_accepted(store: Store) -> None:
    _, new = store.add_article(item(1, guid="g" * 10_000), now=NOW)
    assert new


def test_one_delivery_per_article_and_channel(store: Store) -> None:
    article, _ = store.add_article(item(), now=NOW)
    assert store.create_deliveries(article.id, [NewDelivery("tg", NOW)], now=NOW) == 1
    assert store.create_deliveries(article.id, [NewDelivery("tg", NOW)], now=NOW) == 0
    assert len(store.deliveries(channel="tg")) == 1


def test_claim_takes_only_due_rows_and_a_second_claim_gets_nothing(store: Store) -> None:
    a, _ = store.add_article(item(1), now=NOW)
    b, _ = store.add_article(item(2), now=NOW)
    store.create_deliveries(a.id, [NewDelivery("tg", NOW)], now=NOW)
    store.create_deliveries(b.id, [NewDelivery("tg", NOW + timedelta(hours=1))], now=NOW)
    got = store.claim("tg", now=NOW, worker="w1", lease=LEASE, pick=take_all)
    assert [d.article_id for d in got] == [a.id]
    assert got[0].status is DeliveryStatus.CLAIMED
    assert store.claim("tg", now=NOW, worker="w2", lease=LEASE, pick=take_all) == []


def test_expired_claim_returns_to_pending_but_expired_send_becomes_unknown(store: Store) -> None:
    a, _ = store.add_article(item(1), now=NOW)
    b, _ = store.add_article(item(2), now=NOW)
    store.create_deliveries(a.id, [NewDelivery("tg", NOW)], now=NOW)
    store.create_deliveries(b.id, [NewDelivery("tg", NOW)], now=NOW)
    first, second = store.claim("tg", now=NOW, worker="dead", lease=LEASE, pick=take_all)
    store.mark_sending(second.id, worker="dead", now=NOW)
    assert store.recover_expired(NOW + LEASE + timedelta(seconds=1)) == (1, 1)
    assert store.get_delivery(first.id).status is DeliveryStatus.PENDING  # type: ignore[union-attr]
    assert store.get_delivery(second.id).status is DeliveryStatus.UNKNOWN  # type: ignore[union-attr]


def test_a_stale_worker_cannot_overwrite_an_outcome(store: Store) -> None:
    a, _ = store.add_article(item(1), now=NOW)
    store.create_deliveries(a.id, [NewDelivery("tg", NOW)], now=NOW)
    (d,) = store.claim("tg", now=NOW, worker="w1", lease=LEASE, pick=take_all)
    assert not store.mark_sent(d.id, Receipt("1"), now=NOW, worker="someone-else")
    assert store.mark_sent(d.id, Receipt("1", url="https://t.me/c/1"), now=NOW, worker="w1")
    sent = store.get_delivery(d.id)
    assert sent is not None and sent.status is DeliveryStatus.SENT and sent.receipt_url


def test_lease_has_one_holder_until_it_expires(store: Store) -> None:
    until = NOW + timedelta(minutes=1)
    assert store.acquire_lease("poll", "a", now=NOW, until=until)
    assert not store.acquire_lease("poll", "b", now=NOW, until=until)
    assert store.acquire_lease("poll", "b", now=until + timedelta(seconds=1),
                               until=until + timedelta(minutes=1))


def test_source_failures_are_counted_and_cleared_by_a_success(store: Store) -> None:
    assert store.record_poll_failure("en", now=NOW, error="boom", next_poll_at=NOW) == 1
    assert store.record_poll_failure("en", now=NOW, error="boom", next_poll_at=NOW) == 2
    store.record_poll_success("en", now=NOW, next_poll_at=NOW, etag='"e1"', items=3)
    state = store.source_state("en")
    assert state.consecutive_errors == 0 and state.last_error == "" and state.etag == '"e1"'


def test_reopening_the_store_applies_no_migration_twice(store_url: str) -> None:
    from bot.store.base import open_engine
    from bot.store.migrations import migrate

    engine = open_engine(store_url)
    try:
        assert migrate(engine) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["nonsense", "postgresql+psycopg://nobody@127.0.0.1:1/none",
                                 "postgresql+psycopg2://nobody@127.0.0.1:1/none"])
def test_a_bad_store_url_is_a_clear_error(url: str) -> None:
    from bot.errors import StoreError
    from bot.store import open_store

    with pytest.raises(StoreError, match="store:"):
        open_store(url)
