"""Several workers: the SQLite run lock, PostgreSQL workers sharing one store, crash soak.

The multi-worker and soak tests run real ``newsbot run`` processes against the local Telegram,
X and feed servers (benchmarks/crash_soak.py's ``Rig``). The issue's figure is 300 articles ×
3 channels; Telegram allows one message per second per chat, so that takes five minutes
whatever the code does. Here it is scaled down to 7 articles (21 deliveries, ~13 s);
``benchmarks/crash_soak.py --store postgresql+psycopg://… --workers 3`` runs the full size.
"""

from __future__ import annotations

import itertools
import random
import signal
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from benchmarks.crash_soak import Rig, soak, wait_for
from bot.channels.telegram_platform import GROUP_PACE as TELEGRAM_PACE
from bot.channels.telegram_platform import PRIVATE_PACE as TELEGRAM_PRIVATE_PACE
from bot.config import Schedule
from bot.models import DeliveryStatus, Receipt
from bot.plan import pick_due, platform_allows
from bot.runlock import StoreBusyError, hold_run_lock, lock_path
from bot.store import ChannelHistory, NewDelivery, Store, open_store, schema
from tests.test_store import item


def test_lock_file_sits_next_to_a_sqlite_database(tmp_path: Path) -> None:
    assert lock_path(f"sqlite:///{tmp_path}/data/newsbot.db") == tmp_path / "data/newsbot.db.lock"
    assert lock_path("sqlite:///:memory:") is None
    assert lock_path("postgresql+psycopg://postgres@127.0.0.1/test") is None


def test_second_holder_of_a_sqlite_store_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    busy = r"already in use by newsbot run \(pid"
    with hold_run_lock(url), pytest.raises(StoreBusyError, match=busy), \
            hold_run_lock(url, command="once"):
        pass
    with hold_run_lock(url) as held:  # released on exit: the next one gets it
        assert held == tmp_path / "newsbot.db.lock"


def test_three_workers_on_postgresql_deliver_everything_once_paced_and_survive_the_leader(
        tmp_path: Path, pg_schema_url: str) -> None:
    # A claim the killed leader held comes back after NEWSBOT_CLAIM_LEASE (the fakes answer
    # at once, so 4 s is ample here; the default is 5 minutes).
    rig = Rig(tmp_path, pg_schema_url, chats=("@wire_a", "-1001234567890"),
              env={"NEWSBOT_CLAIM_LEASE": "4"})
    try:
        rig.publish(5)
        workers = [rig.start_worker() for _ in range(3)]
        by_pid = {p.pid: p for p in workers}
        store = open_store(pg_schema_url)

        def leader() -> str:
            with store.engine.connect() as conn:
                row = conn.execute(select(schema.leases.c.holder)
                                   .where(schema.leases.c.name == "poll")).first()
            return str(row[0]) if row else ""

        try:
            assert wait_for(lambda: leader() != "" and len(rig.states()) == 5 * 3, 30), \
                rig.log_tail()
            first = leader()
            killed = by_pid[int(first.split(":")[1])]
            killed.send_signal(signal.SIGKILL)
            killed.wait(10)
            # Only a poller finds these: they prove polling resumed in another worker.
            rig.publish(2)
            assert wait_for(lambda: leader() not in ("", first), 20), rig.log_tail()
            assert wait_for(rig.settled, 60), (rig.states(), rig.log_tail())
        finally:
            store.close()
        assert rig.stop_all() == [0, 0], rig.log_tail()
        figures = rig.figures()
        assert figures.duplicates == []
        assert figures.lost == []
        # Only a post the dead leader had in flight may be unknown, and at most one per channel.
        assert len(figures.unknown) <= 3, figures.unknown
        assert figures.sent + len(figures.unknown) == 7 * 3
        # Telegram's 1 message/s per chat held across the three workers: no 429 at all.
        assert rig.telegram.count(429) == 0
        for chat in rig.chats:
            times = sorted(m.at for m in rig.telegram.messages if m.chat == chat)
            assert all(b - a >= 1.0 for a, b in itertools.pairwise(times)), chat
    finally:
        rig.close()


def test_crash_soak_three_rounds_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path, f"sqlite:///{tmp_path / 'newsbot.db'}")
    try:
        figures = soak(rig, rounds=3, workers=1, rng=random.Random(3), drain=40,
                       echo=lambda _: None, pause=(0.5, 2.5))
    finally:
        rig.close()
    assert figures.duplicates == [], figures.lines()
    assert figures.lost == [], figures.lines()
    assert figures.sent + len(figures.unknown) == figures.expected == 9


# -- the platform's pace and the claim guard, decided in the store (both stores) -------------

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TELEGRAM = partial(pick_due, schedule=Schedule(), zone=ZoneInfo("UTC"), pace=TELEGRAM_PACE)


def _queue(store: Store, n: int) -> None:
    for i in range(n):
        article, _ = store.add_article(item(i), now=T0)
        store.create_deliveries(article.id, [NewDelivery("tg", T0)], now=T0)


def test_telegram_pace_holds_between_workers_claiming_the_same_chat(store: Store) -> None:
    _queue(store, 3)
    lease = timedelta(minutes=5)
    (first,) = store.claim("tg", now=T0, worker="w1", lease=lease, pick=TELEGRAM)
    # While that post is in flight, no other worker may start one to the same chat.
    assert store.claim("tg", now=T0 + timedelta(seconds=5), worker="w2", lease=lease,
                       pick=TELEGRAM) == []
    assert store.mark_sending(first.id, worker="w1", now=T0)
    store.mark_sent(first.id, Receipt("1"), now=T0 + timedelta(seconds=2), worker="w1")
    # A second after Telegram answered, and not before.
    assert store.claim("tg", now=T0 + timedelta(seconds=2.5), worker="w2", lease=lease,
                       pick=TELEGRAM) == []
    assert len(store.claim("tg", now=T0 + timedelta(seconds=3), worker="w2", lease=lease,
                           pick=TELEGRAM)) == 1


def test_telegram_pace_allows_twenty_posts_a_minute_to_a_channel() -> None:
    recent = tuple(T0 - timedelta(seconds=2 * i) for i in range(1, 21))
    assert not platform_allows(ChannelHistory("tg", recent), T0, TELEGRAM_PACE)
    assert platform_allows(ChannelHistory("tg", recent[:19]), T0, TELEGRAM_PACE)
    assert platform_allows(ChannelHistory("tg", recent), T0, TELEGRAM_PRIVATE_PACE)


def test_a_worker_whose_claim_expired_may_not_send(store: Store) -> None:
    _queue(store, 1)
    lease = timedelta(seconds=10)
    (mine,) = store.claim("tg", now=T0, worker="slow", lease=lease, pick=TELEGRAM)
    store.recover_expired(T0 + timedelta(seconds=11))
    (theirs,) = store.claim("tg", now=T0 + timedelta(seconds=12), worker="fast", lease=lease,
                            pick=TELEGRAM)
    assert theirs.id == mine.id
    assert not store.mark_sending(mine.id, worker="slow", now=T0 + timedelta(seconds=13))
    assert store.mark_sending(theirs.id, worker="fast", now=T0 + timedelta(seconds=13))


def test_shutdown_hands_back_a_workers_claims_and_marks_its_sends_unknown(store: Store) -> None:
    _queue(store, 2)
    take_two = partial(pick_due, schedule=Schedule(), zone=ZoneInfo("UTC"), limit=2)
    first, second = store.claim("tg", now=T0, worker="w1", lease=timedelta(minutes=5),
                                pick=take_two)
    store.mark_sending(second.id, worker="w1", now=T0)
    assert store.release_claims("someone-else", now=T0) == (0, 0)
    assert store.release_claims("w1", now=T0) == (1, 1)
    assert store.get_delivery(first.id).status is DeliveryStatus.PENDING  # type: ignore[union-attr]
    assert store.get_delivery(second.id).status is DeliveryStatus.UNKNOWN  # type: ignore[union-attr]


def test_a_post_of_unknown_outcome_counts_against_the_pace(store: Store) -> None:
    _queue(store, 2)
    lease = timedelta(minutes=5)
    (first,) = store.claim("tg", now=T0, worker="w1", lease=lease, pick=TELEGRAM)
    store.mark_sending(first.id, worker="w1", now=T0)
    store.mark_unknown(first.id, "timed out", now=T0 + timedelta(seconds=5), worker="w1")
    # It may still reach Telegram: the next post waits a full interval after giving up on it.
    assert store.claim("tg", now=T0 + timedelta(seconds=5.5), worker="w2", lease=lease,
                       pick=TELEGRAM) == []
    assert len(store.claim("tg", now=T0 + timedelta(seconds=6), worker="w2", lease=lease,
                           pick=TELEGRAM)) == 1
