"""Articles and source state: what ingest writes."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.models import Article, FeedItem, article_of
from bot.store import schema
from bot.store.base import StoreBase
from bot.store.corrections import insert_corrections
from bot.store.outbox import insert_deliveries
from bot.store.poll_sql import (
    SOURCE_STATES_SQL,
    articles_by_id_sql,
    datetime_binder,
    find_articles_sql,
    id_chunks,
    insert_articles_sql,
    insert_rows,
    read_article,
    read_source_state,
    run,
    success_rows,
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


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _words(html: str) -> str:
    """A feed summary's words alone: a change of markup or spacing is not a correction."""
    from bot.text import html_to_text  # a poll's write needs it; a read of the store does not

    return " ".join(html_to_text(html).split())


def _row_to_article(row: Any) -> Article:
    return _values_to_article(row.id, row._mapping)


def _keys(items: Sequence[FeedItem]) -> list[tuple[str, str]]:
    """Each item's (url hash, guid hash), for every step of a poll."""
    return [_item_keys(i.url, i.guid) for i in items]


@functools.lru_cache(maxsize=4096)
def _item_keys(url: str, guid: str) -> tuple[str, str]:
    # A poll hashes its items when it looks them up (find_articles, before enrichment) and
    # again when it stores them (record_poll): the second time is a lookup here. 4096 holds
    # the items of the polls in flight at once (16 feeds of 250); beyond, a hash is redone.
    return _hash(url), _hash(guid)


@functools.lru_cache(maxsize=256)
def _sections_json(sections: tuple[str, ...]) -> str:
    return json.dumps(list(sections))  # a feed's items mostly share their sections


def _row(item: FeedItem, announced: bool, keys: tuple[str, str],
         bind: Callable[[datetime], Any], bound_now: Any) -> tuple[Any, ...]:
    """A new article's values, in poll_sql.ARTICLE_COLUMNS order, bound for the driver
    (``bound_now``: the poll's time, bound once)."""
    return (item.source_id, item.guid, keys[1], item.url, keys[0], item.title, item.summary,
            item.summary_html, item.text, item.author, _sections_json(item.sections),
            item.language, bind(item.published) if item.published else bound_now, bound_now,
            bound_now, item.image_url, item.image_alt, item.image_problem, announced)


def _new_article(article_id: int, item: FeedItem, now: datetime) -> Article:
    """The Article a new row holds, from the item it was stored from (published_at as the
    feed gave it: the same instant a read gives back in UTC)."""
    return article_of({
        "id": article_id, "source_id": item.source_id, "guid": item.guid, "url": item.url,
        "title": item.title, "summary": item.summary, "text": item.text,
        "author": item.author, "sections": tuple(item.sections), "language": item.language,
        "published_at": item.published or now, "discovered_at": now,
        "image_url": item.image_url, "image_alt": item.image_alt,
        "summary_html": item.summary_html, "image_problem": item.image_problem,
        "corrected_at": None,
    })


def _values_to_article(article_id: int, v: Mapping[str, Any]) -> Article:
    """An Article from a row just read (its column values)."""
    return Article(
        id=article_id, source_id=v["source_id"], guid=v["guid"], url=v["url"],
        title=v["title"], summary=v["summary"], text=v["text"], author=v["author"],
        sections=tuple(json.loads(v["sections"])), language=v["language"],
        published_at=v["published_at"], discovered_at=v["discovered_at"],
        image_url=v["image_url"], image_alt=v["image_alt"], summary_html=v["summary_html"],
        image_problem=v["image_problem"], corrected_at=v.get("corrected_at"),
    )


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

    def _upsert_source(self, conn: Connection, source_id: str, values: dict[str, Any]) -> None:
        done = conn.execute(
            update(schema.sources).where(schema.sources.c.id == source_id).values(**values)
        ).rowcount
        if not done:
            conn.execute(schema.sources.insert().values(id=source_id, **values))

    def record_poll_success(self, source_id: str, *, now: datetime, next_poll_at: datetime,
                            etag: str = "", last_modified: str = "", items: int = 0,
                            note: str = "", parser: str = "", parser_note: str = "") -> None:
        """Record a poll that worked; ``note``: what it left out and why, for `status`;
        ``parser``: which parser read the feed ("" for a 304: the last one is kept)."""
        with self.transaction() as conn:
            self._record_success(conn, source_id, PollSuccess(
                now=now, next_poll_at=next_poll_at, etag=etag, last_modified=last_modified,
                items=items, note=note, parser=parser, parser_note=parser_note))

    def record_poll_successes(self, polls: Sequence[tuple[str, PollSuccess]]) -> None:
        """Record many polls that worked, (source id, what it left) each, in one
        transaction: the batch form of record_poll_success (a round of 304s)."""
        if not polls:
            return
        with self.transaction() as conn:
            self._record_successes(conn, polls)

    def _record_success(self, conn: Connection, source_id: str, done: PollSuccess) -> None:
        self._record_successes(conn, [(source_id, done)])

    def _record_successes(self, conn: Connection,
                          polls: Sequence[tuple[str, PollSuccess]]) -> None:
        # One upsert a source (the light store runs the same, bot/store/light.py).
        for sql, rows in success_rows(self.dialect, polls):
            run(conn, sql, rows[0] if len(rows) == 1 else rows)

    def record_poll_failure(self, source_id: str, *, now: datetime, error: str,
                            next_poll_at: datetime) -> int:
        """Record a failed poll; return how many polls in a row have failed."""
        with self.transaction() as conn:
            before = conn.scalar(select(schema.sources.c.consecutive_errors)
                                 .where(schema.sources.c.id == source_id)) or 0
            self._upsert_source(conn, source_id, {
                "last_polled_at": now, "last_error": error,
                "consecutive_errors": before + 1, "next_poll_at": next_poll_at,
            })
        return int(before) + 1

    # -- articles --------------------------------------------------------------

    def find_article(self, *, url: str, source_id: str, guid: str) -> Article | None:
        """The stored article with this canonical URL, or this guid from this source."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.articles).where(or_(
                    schema.articles.c.url_hash == _hash(url),
                    (schema.articles.c.source_id == source_id)
                    & (schema.articles.c.guid_hash == _hash(guid)),
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
        with self.engine.connect() as conn:
            return self._find_many(conn, items)

    def _find_many(self, conn: Connection, items: Sequence[FeedItem],
                   keys: Sequence[tuple[str, str]] | None = None) -> list[Article | None]:
        """One query per 400 items; ``keys`` are the items' (url hash, guid hash) if known."""
        keys = keys if keys is not None else _keys(items)
        by_url: dict[str, Article] = {}
        by_guid: dict[tuple[str, str], Article] = {}
        postgres = self.dialect == "postgresql"
        for start in range(0, len(items), 400):
            chunk = range(start, min(start + 400, len(items)))
            by_source: dict[str, set[str]] = {}
            for i in chunk:
                by_source.setdefault(items[i].source_id, set()).add(keys[i][1])
            urls = {keys[i][0] for i in chunk}
            params: tuple[str, ...] = (*urls,)
            for source, hashes in by_source.items():
                params += (source, *hashes)
            sql = find_articles_sql(postgres, len(urls),
                                    tuple(len(hashes) for hashes in by_source.values()))
            for row in run(conn, sql, params):
                article = read_article(row)
                by_url[row.url_hash] = article
                by_guid[(row.source_id, row.guid_hash)] = article
        return [by_url.get(url_hash) or by_guid.get((item.source_id, guid_hash))
                for item, (url_hash, guid_hash) in zip(items, keys, strict=True)]

    def add_articles(self, items: Sequence[FeedItem], *, now: datetime,
                     announced: Sequence[bool]) -> list[tuple[Article, bool]]:
        """Store many items in one transaction (the batch form of add_article).

        Returns, in order, each item's stored article and whether it is new. An item that
        repeats an earlier one in the same batch is not new.
        """
        with self.transaction() as conn:
            return self._store_items(conn, items, now=now, announced=announced)

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
        with self.transaction() as conn:
            return self._write_poll(conn, poll)

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
        if len(polls) == 1:
            return [self._record_alone(polls[0])]
        outcomes: list[PollWrite | Exception | None] = [None] * len(polls)
        try:
            with self.transaction() as conn:
                # The driver's own SAVEPOINT statements: SQLAlchemy's begin_nested() compiles
                # a clause for each (a fresh name each time), 80-90 µs a feed instead of 20.
                for index, poll in enumerate(polls):
                    conn.exec_driver_sql("SAVEPOINT poll")
                    try:
                        written = self._write_poll(conn, poll)
                    except Exception as exc:  # this feed's own failure, for its poll
                        outcomes[index] = self._poll_failure(exc)
                        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT poll")
                    else:
                        outcomes[index] = written
                    conn.exec_driver_sql("RELEASE SAVEPOINT poll")
        except Exception:
            # Nothing of the batch was kept: each poll not already failed on its own is
            # written alone, as it would have been without company.
            return [outcome if isinstance(outcome, Exception) else self._record_alone(poll)
                    for poll, outcome in zip(polls, outcomes, strict=True)]
        return [outcome for outcome in outcomes if outcome is not None]

    def _record_alone(self, poll: PollRecord) -> PollWrite | Exception:
        try:
            with self.transaction() as conn:
                return self._write_poll(conn, poll)
        except Exception as exc:
            return self._poll_failure(exc)

    def _poll_failure(self, exc: Exception) -> Exception:
        """A poll's failure as ``record_poll`` would have raised it."""
        if isinstance(exc, SQLAlchemyError):
            return self._store_error(exc, "record_poll")
        return exc

    def _write_poll(self, conn: Connection, poll: PollRecord) -> PollWrite:
        done = poll.done
        changed: list[int] = []
        results = self._store_items(conn, poll.items, now=done.now, announced=poll.announced,
                                    found=poll.found, changed=changed)
        fresh = [article for (article, new), told in zip(results, poll.announced, strict=True)
                 if new and told]
        deliveries = insert_deliveries(conn, self.dialect, poll.plan(fresh), done.now)
        if poll.corrections is not None and changed:
            deliveries += insert_corrections(conn, self.dialect, changed, now=done.now,
                                             policy=poll.corrections)
        self._record_success(conn, poll.source_id, done)
        return PollWrite(tuple(results), deliveries)

    def _store_items(self, conn: Connection, items: Sequence[FeedItem], *, now: datetime,
                     announced: Sequence[bool], found: Sequence[Article | None] | None = None,
                     changed: list[int] | None = None) -> list[tuple[Article, bool]]:
        keys = _keys(items)
        if found is None:
            found = self._find_many(conn, items, keys)
        results: list[tuple[Article, bool] | None] = [None] * len(items)
        bind = datetime_binder(self.dialect)
        bound_now = bind(now)
        fresh: dict[str, tuple[int, tuple[Any, ...]]] = {}
        for index, (item, existing) in enumerate(zip(items, found, strict=True)):
            if existing is not None:
                if self._refresh(conn, existing, item, now) and changed is not None:
                    changed.append(existing.id)
                results[index] = (existing, False)
                continue
            if keys[index][0] in fresh:
                continue  # the same article twice in one feed: the first one counts
            fresh[keys[index][0]] = (index, _row(item, announced[index], keys[index], bind,
                                                 bound_now))
        if fresh:
            ids = {stored.url_hash: stored.id for stored in insert_rows(
                conn, insert_articles_sql, [row for _, row in fresh.values()])}
            for url_hash, (index, _) in fresh.items():
                if url_hash in ids:
                    results[index] = (_new_article(ids[url_hash], items[index], now), True)
        # Items still unresolved: repeated in the batch, or stored by another worker meanwhile.
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            again = self._find_many(conn, [items[i] for i in missing],
                                    [keys[i] for i in missing])
            for index, article in zip(missing, again, strict=True):
                if article is None:
                    raise RuntimeError(f"article {items[index].url} was neither stored nor found")
                results[index] = (article, False)
        return [r for r in results if r is not None]

    def _refresh(self, conn: Connection, article: Article, item: FeedItem,
                 now: datetime) -> bool:
        """Bring a known article up to date with its feed entry; True when the feed changed
        what its posts said (the title, or the feed's own summary), i.e. a correction."""
        title_changed = bool(item.title) and item.title != article.title
        # The feed's own words decide whether its summary changed: the stored summary may be
        # the page's lede, chosen over a teaser, which the feed's teaser must not overwrite.
        summary_changed = (bool(item.summary_html) and bool(article.summary_html)
                           and item.summary_html != article.summary_html
                           and _words(item.summary_html) != _words(article.summary_html))
        changes: dict[str, Any] = {}
        if title_changed:
            changes["title"] = item.title
        if (item.summary and item.summary != article.summary
                and (summary_changed or not article.summary_html)):
            changes["summary"] = item.summary
        if item.text and not article.text:
            changes["text"] = item.text
        if item.image_url and not article.image_url:
            changes["image_url"] = item.image_url
            changes["image_alt"] = item.image_alt
            changes["image_problem"] = item.image_problem
        if item.summary_html and item.summary_html != article.summary_html:
            changes["summary_html"] = item.summary_html
        if changes:
            changes["updated_at"] = now
            conn.execute(update(schema.articles)
                         .where(schema.articles.c.id == article.id).values(**changes))
        return title_changed or summary_changed

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
