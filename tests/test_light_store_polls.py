"""A cold poll's writes through the light store (bot/store/light.py): the same code as the full
store's (bot/store/poll_write.py) over sqlite3, so the same polls leave the same rows, a feed
that fails in a batch is undone alone, and a failure reads as the full store words it."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.errors import StoreError
from bot.models import Article, DeliveryStatus, FeedItem, Receipt
from bot.store import NewDelivery, PollRecord, PollSuccess, PollWrite, Store, open_store
from bot.store.light import LightStore, open_cycle_store
from bot.store.records import CorrectionPolicy
from tests.kit import open_light_store

NOW = datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC)
LATER = NOW + timedelta(minutes=30)
#: A platform that edits in place gets the edit to send; the other is told it cannot.
POLICY = CorrectionPolicy(
    window=timedelta(days=1),
    decide=lambda channel: ((DeliveryStatus.PENDING, "") if channel == "tg"
                            else (DeliveryStatus.SKIPPED, "x cannot edit a post")))


def _item(source: str, key: str, **fields: Any) -> FeedItem:
    values: dict[str, Any] = {
        "title": f"Story {key}", "summary": f"About {key}.",
        "summary_html": f"<p>About {key}.</p>", "published": NOW - timedelta(hours=1),
        "sections": ("Politics",)} | fields
    return FeedItem(source_id=source, guid=key, url=f"https://news.example.org/{key}",
                    **values)


def _plan_each(channel: str) -> Any:
    def plan(articles: list[Article]) -> Iterable[tuple[int, NewDelivery]]:
        return [(a.id, NewDelivery(channel=channel, due_at=LATER)) for a in articles]
    return plan


def _refused(articles: list[Article]) -> Iterable[tuple[int, NewDelivery]]:
    # a delivery for an article that does not exist: the database refuses it (foreign key)
    return [(10**9, NewDelivery(channel="tg", due_at=LATER))] if articles else []


def _broken(articles: list[Article]) -> Iterable[tuple[int, NewDelivery]]:
    raise ValueError("the planner broke")


def _poll(source: str, items: list[FeedItem], plan: Any, *,
          corrections: CorrectionPolicy | None = None) -> PollRecord:
    return PollRecord(source, items, announced=[True] * len(items), found=None, plan=plan,
                      done=PollSuccess(now=LATER, next_poll_at=LATER + timedelta(hours=1),
                                       etag=f'"{source}"', items=len(items),
                                       parser="fastfeedparser"),
                      corrections=corrections)


#: One round: corrections and refreshes, new items (one twice in its feed, one shared by
#: two feeds), a feed the database refuses and one whose planner breaks.
ROUND = [
    _poll("en", [_item("en", "posted", title="Story posted, corrected"),
                 _item("en", "plain", image_url="https://news.example.org/i.jpg",
                       image_alt="A harbour", text="The full text."),
                 _item("en", "new-1"), _item("en", "new-1"), _item("en", "shared")],
          _plan_each("tg"), corrections=POLICY),
    _poll("de", [_item("de", "shared"), _item("de", "new-2", sections=("Wirtschaft", "Welt"))],
          _plan_each("xe")),
    _poll("refused", [_item("refused", "new-3")], _refused),
    _poll("broken", [_item("broken", "new-4")], _broken),
    _poll("fr", [_item("fr", "new-5", title="Élection : résultats")], _plan_each("tg")),
]


def _prepared(path: Path) -> Path:
    """A store where "posted" went out on two channels an hour ago and "plain" is known."""
    with open_store(f"sqlite:///{path}") as store:
        stored = store.add_articles([_item("en", "posted"), _item("en", "plain")],
                                    now=NOW - timedelta(hours=1), announced=[True, False])
        posted = stored[0][0]
        store.create_deliveries(posted.id, [NewDelivery("tg", NOW), NewDelivery("xe", NOW)],
                                now=NOW)
        for delivery in store.deliveries():
            store.mark_sent(delivery.id, Receipt(platform_id=f"{delivery.channel}-1"),
                            now=NOW, worker="")
        store.record_poll_failure("broken", now=NOW, error="HTTP 500", next_poll_at=NOW)
    return path


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("articles", "deliveries", "sources")}


def _outcome(outcome: PollWrite | Exception, path: Path) -> Any:
    if isinstance(outcome, StoreError):  # the file's name aside, the same words
        return ("StoreError", str(outcome).replace(str(path), "<db>"), outcome.retryable)
    if isinstance(outcome, Exception):
        return (type(outcome).__name__, str(outcome))
    return outcome


@pytest.fixture
def twins(tmp_path: Path) -> tuple[Path, Path]:
    full = _prepared(tmp_path / "full.db")
    light = tmp_path / "light.db"
    shutil.copy(full, light)
    return full, light


def test_the_same_round_written_light_or_full_leaves_the_same_rows(
        twins: tuple[Path, Path]) -> None:
    full_db, light_db = twins
    with open_store(f"sqlite:///{full_db}") as full:
        by_full = full.record_polls(ROUND)
        failures_full = [full.record_poll_failure(s, now=LATER, error="timed out",
                                                  next_poll_at=LATER) for s in ("broken", "nx")]
        state_full = full.source_state("broken")
        found_full = full.find_articles([_item("de", "shared"), _item("x", "unknown")])
    with open_light_store(light_db) as light:
        by_light = light.record_polls(ROUND)
        failures_light = [light.record_poll_failure(s, now=LATER, error="timed out",
                                                    next_poll_at=LATER)
                          for s in ("broken", "nx")]
        state_light = light.source_state("broken")
        found_light = light.find_articles([_item("de", "shared"), _item("x", "unknown")])
        assert not light.opened_full
    assert [_outcome(o, light_db) for o in by_light] == [_outcome(o, full_db) for o in by_full]
    assert (failures_light, state_light, found_light) == (failures_full, state_full, found_full)
    assert failures_light == [2, 1]
    assert _tables(light_db) == _tables(full_db)

    # and what was written is what the round meant
    en, de, refused, broken, _ = by_light
    assert isinstance(en, PollWrite) and isinstance(de, PollWrite)
    assert [new for _, new in en.articles] == [False, False, True, False, True]
    assert [new for _, new in de.articles] == [False, True]  # "shared": stored by "en"
    assert en.deliveries == 2 + 2  # two new on tg, the correction's edit on tg and on xe
    assert isinstance(refused, StoreError) and not refused.retryable
    assert "record_poll failed: FOREIGN KEY constraint failed" in str(refused)
    assert isinstance(broken, ValueError)
    rows = _tables(light_db)
    assert {row[2] for row in rows["articles"]} == {
        "posted", "plain", "new-1", "shared", "new-2", "new-5"}  # new-3, new-4 undone
    sources = {row[0]: row for row in rows["sources"]}
    assert "refused" not in sources
    assert sources["broken"][6] == 2  # its failure before, and the one recorded after
    with open_store(f"sqlite:///{light_db}") as full:
        edits = [d for d in full.deliveries() if d.revision == 1]
        assert {(d.channel, d.status, d.edit_of) for d in edits} == {
            ("tg", DeliveryStatus.PENDING, "tg-1"), ("xe", DeliveryStatus.SKIPPED, "xe-1")}
        (posted,) = full.find_articles([_item("en", "posted")])
        assert posted is not None
        assert (posted.title, posted.corrected_at) == ("Story posted, corrected", LATER)
        (plain,) = full.find_articles([_item("en", "plain")])
        assert plain is not None and (plain.image_url, plain.text) == (
            "https://news.example.org/i.jpg", "The full text.")


def test_a_batch_the_light_store_cannot_begin_is_tried_a_feed_at_a_time_and_fails_as_full(
        twins: tuple[Path, Path]) -> None:
    # Another connection holds the write lock: the batch cannot begin, so each feed is tried
    # alone, and each fails as the full store fails it (retryable, the busy timeout named).
    full_db, light_db = twins
    answers = []
    for path in (full_db, light_db):
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            store = open_cycle_store(f"sqlite:///{path}", busy_timeout=timedelta(milliseconds=50))
            if path == full_db:
                store = store.full()
            with store:
                answers.append([_outcome(o, path) for o in store.record_polls(ROUND[:2])])
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert answers[0] == answers[1]
    assert answers[1] == [("StoreError", "store sqlite:///<db>: record_poll failed: database "
                           "is locked: another connection held the write lock past the "
                           "0.05 s busy timeout (a long import or migration, or a second "
                           "process on the file)", True)] * 2
    assert _tables(light_db) == _tables(full_db)  # nothing of either was kept


def test_a_light_batch_leaves_a_failed_feed_out_and_keeps_the_others(tmp_path: Path) -> None:
    db = _prepared(tmp_path / "newsbot.db")
    first, refused, last = ROUND[1], ROUND[2], ROUND[4]
    with open_light_store(db) as light:
        outcomes = light.record_polls([first, refused, last])
        assert not light.opened_full
    assert isinstance(outcomes[0], PollWrite) and isinstance(outcomes[2], PollWrite)
    assert isinstance(outcomes[1], StoreError)
    with open_store(f"sqlite:///{db}") as full:
        stored = full.find_articles([*first.items, *refused.items, *last.items])
        assert [a is not None for a in stored] == [True, True, False, True]
        assert set(full.source_states()) == {"broken", "de", "fr"}


def test_a_light_store_hands_its_writes_to_the_full_store_once_it_is_opened(
        tmp_path: Path) -> None:
    db = _prepared(tmp_path / "newsbot.db")
    light: LightStore
    with open_light_store(db) as light:
        light.record_polls([ROUND[4]])
        full: Store = light.full()  # e.g. a dispatch pass: the light connections are closed
        (written,) = light.record_polls([ROUND[1]])
        assert isinstance(written, PollWrite)
        assert light.find_articles(list(ROUND[1].items)) == full.find_articles(
            list(ROUND[1].items))
        assert light.record_poll_failure("de", now=LATER, error="x", next_poll_at=LATER) == 1
        assert full.source_state("de").consecutive_errors == 1
