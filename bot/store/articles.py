"""Articles and source state: what ingest writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from bot.models import Article, FeedItem
from bot.store import schema
from bot.store.base import StoreBase
from bot.store.driver import AlchemyExecutor, run
from bot.store.poll_sql import (
    ARTICLE_READ_COLUMNS,
    SOURCE_STATES_SQL,
    articles_by_id_sql,
    id_chunks,
    read_article,
    read_source_state,
)
from bot.store.poll_write import (
    find_many,
    item_hash,
    record_failure,
    record_successes,
    store_items,
    write_poll,
    write_polls,
)
from bot.store.records import (
    CorrectionPolicy,
    Planner,
    PollRecord,
    PollSuccess,
    PollWrite,
    SourceState,
)
from bot.store.status_sql import (
    last_discovered_sql,
    newest_published_sql,
    read_rhythm,
    source_state_sql,
)


def _row_to_article(row: Any) -> Article:
    """An Article from a row of ``select(schema.articles)``, read as the driver SQL's are."""
    values = row._mapping
    return read_article([values[column] for column in ARTICLE_READ_COLUMNS])


class ArticleQueries(StoreBase):
    # -- sources ---------------------------------------------------------------

    def source_state(self, source_id: str) -> SourceState:
        # The driver's own SQL, shared with the light store (bot/store/status_sql.py).
        with self.engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            row = run(conn, source_state_sql(postgres), (source_id,)).first()
        return read_source_state(row) if row is not None else SourceState(source_id)

    def source_states(self) -> dict[str, SourceState]:
        """Every known source's state, by id, in one query (a source never polled is
        absent: its state is ``SourceState(id)``)."""
        # The driver's own SQL, shared with the light store (bot/store/light.py).
        with self.engine.connect() as conn:
            states = (read_source_state(row) for row in run(conn, SOURCE_STATES_SQL, ()))
            return {state.source_id: state for state in states}

    def all_source_states(self) -> list[SourceState]:
        return [state for _, state in sorted(self.source_states().items())]

    def record_poll_success(self, source_id: str, *, now: datetime, next_poll_at: datetime,
                            etag: str = "", last_modified: str = "", items: int = 0,
                            note: str = "", parser: str = "", parser_note: str = "") -> None:
        """Record a poll that worked; ``note``: what it left out and why, for `status`;
        ``parser``: which parser read the feed ("" for a 304: the last one is kept)."""
        with self._writing() as ex:
            record_successes(ex, [(source_id, PollSuccess(
                now=now, next_poll_at=next_poll_at, etag=etag, last_modified=last_modified,
                items=items, note=note, parser=parser, parser_note=parser_note))])

    def record_poll_successes(self, polls: Sequence[tuple[str, PollSuccess]]) -> None:
        """Record many polls that worked, (source id, what it left) each, in one
        transaction: the batch form of record_poll_success (a round of 304s)."""
        if not polls:
            return
        with self._writing() as ex:  # the light store runs the same (bot/store/light.py)
            record_successes(ex, polls)

    def record_poll_failure(self, source_id: str, *, now: datetime, error: str,
                            next_poll_at: datetime) -> int:
        """Record a failed poll; return how many polls in a row have failed."""
        with self._writing() as ex:  # the light store runs the same (bot/store/light.py)
            return record_failure(ex, source_id, now=now, error=error,
                                  next_poll_at=next_poll_at)

    # -- articles --------------------------------------------------------------

    def find_article(self, *, url: str, source_id: str, guid: str) -> Article | None:
        """The stored article with this canonical URL, or this guid from this source."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.articles).where(or_(
                    schema.articles.c.url_hash == item_hash(url),
                    (schema.articles.c.source_id == source_id)
                    & (schema.articles.c.guid_hash == item_hash(guid)),
                )).limit(1)
            ).first()
        return _row_to_article(row) if row else None

    def add_article(self, item: FeedItem, *, now: datetime, announced: bool = True
                    ) -> tuple[Article, bool]:
        """Store ``item`` unless it is already known (by canonical URL or source+guid).

        Returns the stored article and True when it is new. A known article has its text
        fields refreshed (a corrected title) but is never announced again.
        """
        ((article, new),) = self.add_articles([item], now=now, announced=[announced])
        return article, new

    def find_articles(self, items: Sequence[FeedItem]) -> list[Article | None]:
        """For each item, the stored article it is (by canonical URL or source+guid)."""
        with self.engine.connect() as conn:  # the light store runs the same
            return find_many(AlchemyExecutor(conn), items)

    def add_articles(self, items: Sequence[FeedItem], *, now: datetime,
                     announced: Sequence[bool]) -> list[tuple[Article, bool]]:
        """Store many items in one transaction (the batch form of add_article).

        Returns, in order, each item's stored article and whether it is new. An item that
        repeats an earlier one in the same batch is not new.
        """
        with self._writing() as ex:
            return store_items(ex, items, now=now, announced=announced)

    def record_poll(self, source_id: str, items: Sequence[FeedItem], *,
                    announced: Sequence[bool], found: Sequence[Article | None] | None,
                    plan: Planner, done: PollSuccess,
                    corrections: CorrectionPolicy | None = None) -> PollWrite:
        """Everything one feed's poll writes, in one transaction: its new articles (one
        multi-row INSERT), known ones refreshed, the deliveries ``plan`` gives for the new
        announced ones (one INSERT), and the source's success.

        ``found`` is what ``find_articles(items)`` said before the caller's enrichment (None:
        look now); an item another worker stored since then is found again, not stored twice.
        With ``corrections``, a known article whose title or summary the feed changed gets
        the edits of its posts planned too (bot/store/corrections.py).
        """
        poll = PollRecord(source_id, items, announced=announced, found=found, plan=plan,
                          done=done, corrections=corrections)
        with self._writing() as ex:  # the light store runs the same (bot/store/poll_write.py)
            return write_poll(ex, poll)

    def record_polls(self, polls: Sequence[PollRecord]) -> list[PollWrite | Exception]:
        """Many feeds' polls written in one transaction, each in a savepoint of its own: one
        commit for them all, and a poll that fails leaves nothing of its own while the others
        are kept. Returns, in order, what ``record_poll`` would have given each poll alone:
        its PollWrite, or the exception it would have raised (a database's as StoreError).
        Never raises for a poll's own failure.

        Polls later in the batch see what earlier ones stored: an article two feeds carry is
        stored by the first and found by the second, as across two transactions. Should the
        transaction fail as a whole (its BEGIN, a savepoint the database dropped, the COMMIT),
        the polls are written again one transaction each, so each still gets its own answer.
        """
        return write_polls(self._writing, self._poll_failure, polls)

    @contextmanager
    def _writing(self) -> Iterator[AlchemyExecutor]:
        """A write transaction (``transaction``) for bot/store/poll_write.py's code."""
        with self.transaction() as conn:
            yield AlchemyExecutor(conn)

    def _poll_failure(self, exc: Exception) -> Exception:
        """A poll's failure as ``record_poll`` would have raised it."""
        if isinstance(exc, SQLAlchemyError):
            return self._store_error(exc, "record_poll")
        return exc

    def get_article(self, article_id: int) -> Article:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.articles).where(schema.articles.c.id == article_id)
            ).one()
        return _row_to_article(row)

    def get_articles(self, ids: list[int]) -> dict[int, Article]:
        # The driver's own SQL, shared with the light store (bot/store/light.py).
        with self.engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            return {article.id: article for chunk in id_chunks(ids)
                    for article in map(read_article, run(
                        conn, articles_by_id_sql(postgres, len(chunk)), chunk))}

    def newest_article(self) -> Article | None:
        """The article discovered last (a realistic sample for `newsbot check`)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.articles).order_by(
                schema.articles.c.discovered_at.desc(), schema.articles.c.id.desc()).limit(1)
            ).first()
        return _row_to_article(row) if row is not None else None

    def source_rhythm(self, source_id: str, limit: int = 20
                      ) -> tuple[datetime | None, list[datetime]]:
        """When ``source_id`` last gave a new article (first seen), and the publication
        times of its ``limit`` newest articles, newest first: its usual rhythm."""
        # The driver's own SQL, shared with the light store (bot/store/status_sql.py).
        with self.engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            last = run(conn, last_discovered_sql(postgres), (source_id,)).scalar()
            published = run(conn, newest_published_sql(postgres), (source_id, limit)).all()
        return read_rhythm(last, published)

    def count_articles(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(schema.articles)) or 0)
