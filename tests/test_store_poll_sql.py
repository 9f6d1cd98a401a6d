"""A poll's statements are the driver's own SQL (bot/store/poll_sql.py): what they store and
read back must be what SQLAlchemy's column types store and read, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.models import Article, DeliveryStatus, FeedItem, NewDelivery, Receipt
from bot.store import PollSuccess, Store, schema
from bot.store.driver import AlchemyExecutor
from bot.store.poll_sql import insert_deliveries
from bot.store.records import CorrectionPolicy

NOW = datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))
#: Values that a hand-written bind could get wrong: a zone other than UTC, a time without
#: microseconds, text beyond ASCII, several sections, no image.
ITEM = FeedItem(source_id="fr", guid="g-1", url="https://news.example.org/1",
                title="Élection : résultats", summary="Résumé", summary_html="<p>Résumé</p>",
                text="Texte", author="Agnès", sections=("Politique", "Régions"),
                language="fr", published=datetime(2026, 11, 24, 8, 30, tzinfo=PARIS),
                image_url=None, image_alt="", image_problem="")
_COMPARED = ("source_id", "title", "summary", "summary_html", "text", "author", "sections",
             "language", "published_at", "discovered_at", "updated_at", "image_url",
             "image_alt", "image_problem", "announced", "corrected_at")


def _raw_rows(store: Store) -> list[tuple[Any, ...]]:
    """Each article's values as the driver hands them back, before any column type."""
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(
            f"SELECT {', '.join(_COMPARED)} FROM articles ORDER BY id")]


def test_a_polled_article_is_stored_as_a_core_insert_stores_it(store: Store) -> None:
    store.record_poll("fr", [ITEM], announced=[False], found=None, plan=lambda a: [],
                      done=PollSuccess(now=NOW, next_poll_at=NOW, items=1))
    with store.transaction() as conn:
        conn.execute(schema.articles.insert().values(
            source_id="fr", guid="g-2", guid_hash="b" * 64, url="https://news.example.org/2",
            url_hash="a" * 64, title=ITEM.title, summary=ITEM.summary,
            summary_html=ITEM.summary_html, text=ITEM.text, author=ITEM.author,
            sections='["Politique", "R\\u00e9gions"]', language="fr",
            published_at=ITEM.published, discovered_at=NOW, updated_at=NOW, image_url=None,
            image_alt="", image_problem="", announced=False))
    polled, core = _raw_rows(store)
    assert polled == core


def test_the_article_a_poll_returns_is_the_one_every_read_gives_back(store: Store) -> None:
    written = store.record_poll("fr", [ITEM], announced=[True], found=None,
                                plan=lambda a: [], done=PollSuccess(now=NOW, next_poll_at=NOW))
    ((article, new),) = written.articles
    assert new
    assert store.get_article(article.id) == article
    assert store.find_articles([ITEM]) == [article]
    assert store.find_article(url=ITEM.url, source_id="fr", guid=ITEM.guid) == article


def test_a_planned_delivery_is_stored_as_a_core_insert_stores_it(store: Store) -> None:
    article, _ = store.add_article(ITEM, now=NOW)
    due = datetime(2026, 11, 24, 10, 0, 0, 5, tzinfo=PARIS)
    plan = NewDelivery(channel="tg", due_at=due, priority=5, status=DeliveryStatus.AWAITING,
                       note="approval: « attendre »", revision=2, edit_of="m-1")
    with store.transaction() as conn:
        assert insert_deliveries(AlchemyExecutor(conn), [(article.id, plan)], NOW) == 1
        # the same (article, channel, revision) again: the row is kept as it was
        assert insert_deliveries(AlchemyExecutor(conn), [(article.id, plan)], NOW) == 0
        conn.execute(schema.deliveries.insert().values(
            article_id=article.id, channel="x", status="awaiting", priority=5, due_at=due,
            attempts=0, note=plan.note, created_at=NOW, updated_at=NOW, revision=2,
            edit_of="m-1"))
    columns = [c.name for c in schema.deliveries.columns if c.name not in ("id", "channel")]
    with store.engine.connect() as conn:
        planned, core = (tuple(row) for row in conn.exec_driver_sql(
            f"SELECT {', '.join(columns)} FROM deliveries ORDER BY id"))
    assert planned == core


def test_the_articles_a_poll_builds_are_frozen_articles_as_the_constructor_makes_them(
        store: Store) -> None:
    # A poll builds its new and found articles without Article's generated __init__
    # (models.article_of): each must still be an Article with every field, equal to and
    # hashed as the constructor's, and frozen.
    written = store.record_poll("fr", [ITEM], announced=[True], found=None,
                                plan=lambda a: [], done=PollSuccess(now=NOW, next_poll_at=NOW))
    ((new, _),) = written.articles
    (found,) = store.find_articles([ITEM])
    for built in (new, found):
        assert type(built) is Article
        assert set(vars(built)) == {f.name for f in fields(Article)}
        rebuilt = Article(**vars(built))
        assert built == rebuilt and hash(built) == hash(rebuilt)
        with pytest.raises(FrozenInstanceError):
            built.title = "changed"  # type: ignore[misc]


def test_a_round_of_successes_in_one_call_leaves_each_source_as_one_call_each(
        store: Store) -> None:
    later = NOW + timedelta(hours=1)
    polls = [("a", PollSuccess(now=later, next_poll_at=later + timedelta(minutes=5),
                               etag='"a2"', items=0)),
             ("b", PollSuccess(now=later, next_poll_at=later, items=7, parser="feedparser",
                               parser_note="no entries", note="2 items skipped")),
             ("new", PollSuccess(now=later, next_poll_at=later, last_modified="Tue"))]
    for source in ("a", "b"):
        store.record_poll_failure(source, now=NOW, error="boom", next_poll_at=NOW)
        store.record_poll_success(source, now=NOW, next_poll_at=NOW, items=3,
                                  parser="fastfeedparser")
    one_by_one = {}
    for source_id, done in polls:
        store.record_poll_success(
            source_id, now=done.now, next_poll_at=done.next_poll_at, etag=done.etag,
            last_modified=done.last_modified, items=done.items, note=done.note,
            parser=done.parser, parser_note=done.parser_note)
        one_by_one[source_id] = store.source_state(source_id)
    store.record_poll_successes(polls)
    batched = store.source_states()
    for source_id, state in one_by_one.items():
        again = batched[source_id]
        # items_seen grows once more; everything else is what one call left
        assert again.items_seen == state.items_seen + dict(polls)[source_id].items
        assert again.__dict__ | {"items_seen": 0} == state.__dict__ | {"items_seen": 0}
    assert batched["a"].parser == "fastfeedparser"  # a 304 keeps the last feed's parser
    assert (batched["b"].parser, batched["b"].parser_note) == ("feedparser", "no entries")
    assert batched["new"].parser == "" and batched["new"].items_seen == 0


def test_a_refreshed_and_corrected_article_is_stored_as_core_updates_store_it(
        store: Store) -> None:
    # Two twins: a poll refreshes and corrects the first (driver SQL: poll_sql's
    # refresh_article_sql and mark_corrected_sql), Core updates the second with the same
    # values; the driver must hand back the same values for both.
    twin = replace(ITEM, guid="g-2", url="https://news.example.org/2")
    (first, _), (second, _) = store.add_articles([ITEM, twin], now=NOW, announced=[True, True])
    store.create_deliveries(first.id, [NewDelivery("tg", NOW)], now=NOW)
    (delivery,) = store.deliveries()
    store.mark_sent(delivery.id, Receipt(platform_id="m-1"), now=NOW, worker="")
    later = NOW + timedelta(minutes=7, microseconds=5)
    changed = replace(ITEM, title="Élection : résultats définitifs", summary="Résumé 2",
                      summary_html="<p>Résumé 2</p>", image_url="https://news.example.org/i",
                      image_alt="Urne", image_problem="")
    policy = CorrectionPolicy(window=timedelta(days=1),
                              decide=lambda channel: (DeliveryStatus.PENDING, ""))
    written = store.record_poll("fr", [changed], announced=[True], found=None,
                                plan=lambda a: [], corrections=policy,
                                done=PollSuccess(now=later, next_poll_at=later))
    assert written.deliveries == 1  # the edit
    with store.transaction() as conn:
        conn.execute(schema.articles.update().where(schema.articles.c.id == second.id).values(
            title=changed.title, summary=changed.summary, summary_html=changed.summary_html,
            image_url=changed.image_url, image_alt="Urne", image_problem="",
            updated_at=later, corrected_at=later))
    polled, core = _raw_rows(store)
    assert polled == core
    assert store.get_article(first.id).corrected_at == later


def test_a_failed_poll_is_stored_as_core_statements_store_it(store: Store) -> None:
    # poll_sql.record_failure_sql against what Core's insert (the columns' defaults filled
    # in) and update store for the same failures.
    later = NOW + timedelta(hours=1)
    assert store.record_poll_failure("a", now=NOW, error="HTTP 500", next_poll_at=later) == 1
    assert store.record_poll_failure("a", now=later, error="Délai dépassé",
                                     next_poll_at=later) == 2
    sources = schema.sources
    with store.transaction() as conn:
        conn.execute(sources.insert().values(id="b", last_polled_at=NOW, last_error="HTTP 500",
                                             consecutive_errors=1, next_poll_at=later))
        conn.execute(sources.update().where(sources.c.id == "b").values(
            last_polled_at=later, last_error="Délai dépassé", consecutive_errors=2,
            next_poll_at=later))
    columns = [c.name for c in sources.columns if c.name != "id"]
    with store.engine.connect() as conn:
        failed, core = (tuple(row) for row in conn.exec_driver_sql(
            f"SELECT {', '.join(columns)} FROM sources ORDER BY id"))
    assert failed == core
    assert store.source_state("a").consecutive_errors == 2
