"""The statements every polled feed runs, written out as the driver's own SQL.

A cold poll of 200 feeds × 50 new items spent ~0.65 s of CPU in SQLAlchemy around three
statements (expanding IN lists compiled per call, each value bound through its column type,
insertmanyvalues batches), three times what SQLite itself spends storing the rows; psycopg
also parsed each 950-parameter INSERT afresh (it caches no query of over 50 parameters).
Here each statement's text is built once per shape and its values are bound as the Core
statements bind them, so what is stored is the same to the byte
(tests/test_store_poll_sql.py compares the rows).

The light store (bot/store/light.py) runs the same text over a plain ``sqlite3`` connection:
a short command's first calls (``SOURCE_STATES_SQL``, ``success_rows``) and a cold poll's
writes (bot/store/poll_write.py). This module never imports SQLAlchemy.

SQLite takes ``?`` placeholders; PostgreSQL takes ``$1…$n`` through psycopg's RawCursor,
which sends the text as it is, unparsed (bot/store/driver.py ``run``). In the full store,
statements still run through ``Connection.exec_driver_sql``, so a driver's error leaves as
SQLAlchemy's and the store's boundary (bot/store/boundary.py) translates it as it does any
other; the light store words sqlite3's the same way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import chain
from typing import TYPE_CHECKING, Any

from bot.models import Article, DeliveryStatus, NewDelivery, article_of
from bot.store.records import PollSuccess, SourceState
from bot.store.utc import aware_utc, naive_utc

if TYPE_CHECKING:
    from bot.store.driver import Executor

#: The columns a new article's row binds, in the order of ``article_row``'s values.
ARTICLE_COLUMNS = ("source_id", "guid", "guid_hash", "url", "url_hash", "title", "summary",
                   "summary_html", "text", "author", "sections", "language", "published_at",
                   "discovered_at", "updated_at", "image_url", "image_alt", "image_problem",
                   "announced")
#: The columns an article is read from, in the order ``read_article`` takes them.
ARTICLE_READ_COLUMNS = ("id", "source_id", "guid", "guid_hash", "url", "url_hash", "title",
                        "summary", "summary_html", "text", "author", "sections", "language",
                        "published_at", "discovered_at", "image_url", "image_alt",
                        "image_problem", "corrected_at")
#: The columns a new delivery's row binds, in the order of ``delivery_row``'s values: the
#: planner's, then those a Core insert fills from the columns' defaults (schema.deliveries),
#: so the row is the one SQLAlchemy would have stored.
DELIVERY_COLUMNS = ("article_id", "channel", "status", "priority", "due_at", "note",
                    "revision", "edit_of", "created_at", "updated_at", "attempts",
                    "claimed_by", "last_error", "receipt_id", "receipt_url", "cost",
                    "edited_text")
#: Rows per multi-row INSERT: 19,000 values for an article's 19 columns, under both
#: databases' limit on parameters (SQLite's 32,766 since 3.32, which RETURNING's 3.35
#: already requires; PostgreSQL's 65,535).
ROWS_PER_INSERT = 1000
_SUCCESS_COLUMNS = ("id", "etag", "last_modified", "last_polled_at", "last_success_at",
                    "last_error", "consecutive_errors", "next_poll_at", "items_seen", "parser",
                    "parser_note")


def _sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy's SQLite DateTime stores "%Y-%m-%d %H:%M:%S.%f" of the naive UTC value
    # (microseconds always written); isoformat with these arguments writes exactly that.
    return naive_utc(value).isoformat(" ", "microseconds")


def datetime_binder(dialect: str) -> Callable[[datetime], Any]:
    """How ``dialect``'s driver takes a UTCDateTime column's value: the text SQLAlchemy
    writes for SQLite, the naive UTC datetime for psycopg."""
    return _sqlite_datetime if dialect == "sqlite" else naive_utc


def insert_rows(ex: Executor, sql_for: Callable[[bool, int], str],
                rows: Sequence[tuple[Any, ...]]) -> Iterator[Sequence[Any]]:
    """Insert ``rows`` with the multi-row INSERT ``sql_for(postgres, how many)`` builds, in
    batches of ``ROWS_PER_INSERT``; yields the rows its RETURNING gives back."""
    postgres = ex.dialect == "postgresql"
    for start in range(0, len(rows), ROWS_PER_INSERT):
        batch = rows[start:start + ROWS_PER_INSERT]
        yield from ex.rows(sql_for(postgres, len(batch)), tuple(chain.from_iterable(batch)))


def placeholders(postgres: bool) -> Iterator[str]:
    """Placeholders, in order, as the driver takes them (one iterator a statement; the
    status and queue reads number theirs with it too)."""
    number = 0
    while True:
        number += 1
        yield f"${number}" if postgres else "?"


def take(marks: Iterator[str], count: int) -> str:
    """The next ``count`` of ``marks``, comma-separated."""
    return ", ".join(next(marks) for _ in range(count))


@functools.lru_cache(maxsize=64)
def insert_articles_sql(postgres: bool, rows: int) -> str:
    """New articles, ``rows`` of them; a row another worker stored meanwhile (same URL, or
    same source and guid) is left alone. Returns each stored row's id and url_hash."""
    marks = placeholders(postgres)
    values = ", ".join(f"({take(marks, len(ARTICLE_COLUMNS))})" for _ in range(rows))
    return (f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}) VALUES {values} "
            "ON CONFLICT DO NOTHING RETURNING id, url_hash")


@functools.lru_cache(maxsize=64)
def insert_deliveries_sql(postgres: bool, rows: int) -> str:
    """New deliveries, ``rows`` of them; an (article, channel, revision) that already has
    a row keeps it. Returns each new row's id."""
    marks = placeholders(postgres)
    values = ", ".join(f"({take(marks, len(DELIVERY_COLUMNS))})" for _ in range(rows))
    return (f"INSERT INTO deliveries ({', '.join(DELIVERY_COLUMNS)}) VALUES {values} "
            "ON CONFLICT (article_id, channel, revision) DO NOTHING RETURNING id")


def insert_deliveries(ex: Executor, plans: Iterable[tuple[int, NewDelivery]],
                      now: datetime) -> int:
    """Insert (article id, plan) rows in one statement, in the caller's transaction; a row
    for an (article, channel, revision) that already has one is kept as it is. Returns how
    many are new."""
    # A poll of 10,000 new items for two channels spent ~0.65 s of CPU binding 20,000 rows
    # through the Core statement's column types.
    bind = datetime_binder(ex.dialect)
    bound_now = bind(now)
    rows = [(article_id, p.channel, p.status.value, p.priority, bind(p.due_at), p.note,
             p.revision, p.edit_of, bound_now, bound_now, *_DELIVERY_DEFAULTS)
            for article_id, p in plans]
    return sum(1 for _ in insert_rows(ex, insert_deliveries_sql, rows))


#: What a Core insert stores in the columns a new delivery leaves to their defaults
#: (DELIVERY_COLUMNS after edit_of, created_at and updated_at).
_DELIVERY_DEFAULTS = (0, "", "", "", "", 0.0, "")


@functools.lru_cache(maxsize=64)
def find_articles_sql(postgres: bool, urls: int, guids: tuple[int, ...]) -> str:
    """Articles by ``urls`` url hashes, or by a source and its guid hashes (``guids``: how
    many for each source). Each arm matches an index (url_hash; source_id + guid_hash), so
    the OR never turns into a scan of the whole table."""
    marks = placeholders(postgres)
    arms = [f"url_hash IN ({take(marks, urls)})"]
    arms += [f"(source_id = {next(marks)} AND guid_hash IN ({take(marks, count)}))"
             for count in guids]
    return f"SELECT {', '.join(ARTICLE_READ_COLUMNS)} FROM articles WHERE {' OR '.join(arms)}"


@functools.lru_cache(maxsize=8)
def articles_by_id_sql(postgres: bool, ids: int) -> str:
    """Articles by id, ``ids`` of them (``newsbot queue`` and ``plan`` read their titles)."""
    return (f"SELECT {', '.join(ARTICLE_READ_COLUMNS)} FROM articles "
            f"WHERE id IN ({take(placeholders(postgres), ids)})")


def id_chunks(ids: Iterable[int], size: int = 500) -> list[tuple[int, ...]]:
    """``ids`` without repeats, in tuples of at most ``size`` for ``articles_by_id_sql``
    (SQLite's old limit is 999 variables): a long queue reads its titles in a few queries."""
    unique = tuple(dict.fromkeys(ids))
    return [unique[start:start + size] for start in range(0, len(unique), size)]


@functools.lru_cache(maxsize=4)
def record_success_sql(postgres: bool, with_parser: bool) -> str:
    """A source's row after a poll that worked, made if missing: ``items_seen`` grows by the
    poll's items; ``parser`` and ``parser_note`` change only ``with_parser`` (a 304 keeps
    the last feed's)."""
    kept = {"id", "items_seen"} | (set() if with_parser else {"parser", "parser_note"})
    updates = [f"{c} = excluded.{c}" for c in _SUCCESS_COLUMNS if c not in kept]
    updates.append("items_seen = sources.items_seen + excluded.items_seen")
    marks = placeholders(postgres)
    return (f"INSERT INTO sources ({', '.join(_SUCCESS_COLUMNS)}) "
            f"VALUES ({take(marks, len(_SUCCESS_COLUMNS))}) "
            f"ON CONFLICT (id) DO UPDATE SET {', '.join(updates)}")


@functools.lru_cache(maxsize=128)
def refresh_article_sql(postgres: bool, columns: tuple[str, ...]) -> str:
    """A known article's ``columns`` set anew (the values in that order, then its id): one
    text per combination of changed columns, of which a feed's polls use a handful."""
    marks = placeholders(postgres)
    sets = ", ".join(f"{column} = {next(marks)}" for column in columns)
    return f"UPDATE articles SET {sets} WHERE id = {next(marks)}"


@functools.lru_cache(maxsize=2)
def record_failure_sql(postgres: bool) -> str:
    """A source's row after a failed poll, made if missing (with the values a Core insert
    gives the columns it leaves to their defaults, schema.sources): one more failure in a
    row, which it returns. Bind source id, now, the error, the next poll's time."""
    marks = placeholders(postgres)
    source, now, error, next_poll = (next(marks) for _ in range(4))
    return ("INSERT INTO sources (id, etag, last_modified, last_polled_at, last_error, "
            "consecutive_errors, next_poll_at, items_seen, parser, parser_note) "
            f"VALUES ({source}, '', '', {now}, {error}, 1, {next_poll}, 0, '', '') "
            "ON CONFLICT (id) DO UPDATE SET last_polled_at = excluded.last_polled_at, "
            "last_error = excluded.last_error, "
            "consecutive_errors = sources.consecutive_errors + 1, "
            "next_poll_at = excluded.next_poll_at RETURNING consecutive_errors")


#: The columns of a post's deliveries that ``corrections.insert_corrections`` weighs.
POST_HISTORY_COLUMNS = ("id", "article_id", "channel", "status", "revision", "receipt_id",
                        "sent_at", "edit_of")


@functools.lru_cache(maxsize=16)
def post_history_sql(postgres: bool, articles: int) -> str:
    """The deliveries of ``articles`` articles (by id), ``POST_HISTORY_COLUMNS``."""
    return (f"SELECT {', '.join(POST_HISTORY_COLUMNS)} FROM deliveries "
            f"WHERE article_id IN ({take(placeholders(postgres), articles)})")


@functools.lru_cache(maxsize=16)
def mark_corrected_sql(postgres: bool, articles: int) -> str:
    """``articles`` articles (by id, after the time) marked corrected at the time bound."""
    marks = placeholders(postgres)
    at = next(marks)
    return f"UPDATE articles SET corrected_at = {at} WHERE id IN ({take(marks, articles)})"


#: Every known source's row, in the order ``read_source_state`` takes its columns.
SOURCE_STATES_SQL = ("SELECT id, etag, last_modified, last_polled_at, last_success_at, "
                     "last_error, consecutive_errors, next_poll_at, items_seen, parser, "
                     "parser_note FROM sources")


def read_source_state(row: Sequence[Any]) -> SourceState:
    """A SourceState from a row of ``SOURCE_STATES_SQL``: the values the full store's
    column types give (times as aware UTC, from SQLite's text or psycopg's datetime)."""
    (source_id, etag, last_modified, last_polled_at, last_success_at, last_error,
     consecutive_errors, next_poll_at, items_seen, parser, parser_note) = row
    return SourceState(source_id=source_id, etag=etag, last_modified=last_modified,
                       last_polled_at=aware_utc(last_polled_at),
                       last_success_at=aware_utc(last_success_at), last_error=last_error,
                       consecutive_errors=consecutive_errors,
                       next_poll_at=aware_utc(next_poll_at), items_seen=items_seen,
                       parser=parser, parser_note=parser_note)


def success_rows(dialect: str, polls: Sequence[tuple[str, PollSuccess]]
                 ) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """The upserts that record ``polls`` (source id, what the poll left), as (SQL, rows)
    for executemany: one statement for the polls that read a feed, one for those that did
    not (a 304 keeps the last feed's parser; a source seen for the first time starts with
    none)."""
    bind = datetime_binder(dialect)
    postgres = dialect == "postgresql"
    for with_parser in (False, True):
        rows = [(source_id, done.etag, done.last_modified, bind(done.now), bind(done.now),
                 done.note, 0, bind(done.next_poll_at), done.items, done.parser,
                 done.parser_note if with_parser else "")
                for source_id, done in polls if bool(done.parser) is with_parser]
        if rows:
            yield record_success_sql(postgres, with_parser), rows


@functools.lru_cache(maxsize=16)
def dispatch_work_sql(postgres: bool, channels: int) -> str:
    """Whether a dispatch pass would find anything to do: a pending delivery already due on
    one of ``channels`` channels, or a claim or send whose lease has run out (which
    ``recover_expired`` hands back). Answers one row or none; both arms are ranges of the
    (status, due_at) index. Bind ``dispatch_work_params``."""
    marks = placeholders(postgres)
    arms = []
    if channels:
        arms.append(f"EXISTS (SELECT 1 FROM deliveries WHERE status = {next(marks)} AND "
                    f"due_at <= {next(marks)} AND channel IN ({take(marks, channels)}))")
    arms.append(f"EXISTS (SELECT 1 FROM deliveries WHERE status IN ({take(marks, 2)}) AND "
                f"claimed_until < {next(marks)})")
    return f"SELECT 1 WHERE {' OR '.join(arms)}"


def dispatch_work_params(dialect: str, channels: Sequence[str], now: datetime
                         ) -> tuple[Any, ...]:
    """The values ``dispatch_work_sql(…, len(channels))`` binds."""
    bound_now = datetime_binder(dialect)(now)
    due = (DeliveryStatus.PENDING.value, bound_now, *channels) if channels else ()
    return (*due, DeliveryStatus.CLAIMED.value, DeliveryStatus.SENDING.value, bound_now)


def read_article(row: Sequence[Any]) -> Article:
    """An Article from a row of ``find_articles_sql`` or ``articles_by_id_sql``."""
    (article_id, source_id, guid, _, url, _, title, summary, summary_html, text, author,
     sections, language, published_at, discovered_at, image_url, image_alt, image_problem,
     corrected_at) = row
    return article_of({
        "id": article_id, "source_id": source_id, "guid": guid, "url": url, "title": title,
        "summary": summary, "text": text, "author": author,
        "sections": _sections(sections), "language": language,
        "published_at": _stored_time(published_at),
        "discovered_at": _stored_time(discovered_at),
        "image_url": image_url, "image_alt": image_alt, "summary_html": summary_html,
        "image_problem": image_problem, "corrected_at": aware_utc(corrected_at)})


@functools.lru_cache(maxsize=4096)
def _stored_time(value: str | datetime) -> datetime:
    # A feed's known articles are read again at each of its polls, and the articles of one
    # poll share their discovery time: each stored time is converted once (1 µs each).
    return aware_utc(value)


@functools.lru_cache(maxsize=256)
def _sections(stored: str) -> tuple[str, ...]:
    # A feed's articles mostly share their sections: each JSON list is read once.
    return tuple(json.loads(stored))
