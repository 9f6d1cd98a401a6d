"""The light store: a short command's first calls on SQLite, without SQLAlchemy.

``newsbot status`` reads through it too (``StatusStore``): every one of its reads is answered
here with bot/store/status_sql.py's SQL, which the full store's methods run as well. So does
``newsbot queue`` (``QueueStore``; a channel's history is bot/store/queue_sql.py's).

A warm `newsbot once` (every feed answers 304, nothing due) asks the store three things: the
sources' states, to record the polls that found nothing new, and whether any delivery needs
a dispatch pass. Importing SQLAlchemy costs more than the whole rest of such a run's store
work (about 0.2 s of a 0.6 s run). So on SQLite those three are answered over a plain
``sqlite3`` connection, with the full store's own SQL (bot/store/poll_sql.py) and the same
pragmas (bot/store/sqlite_file.py); the first call it cannot answer opens the full store
(bot/store/facade.py, which migrates), and from then on every call goes there.

A cold `newsbot once` (every item new) writes its polls here too: the feed's look-up, the
group commit's batches (``record_polls``, each feed in a savepoint), a failed poll. That is
bot/store/poll_write.py, the code the full store runs, over ``sqlite3`` (bot/store/driver.py).

The light store's connections and the full store's are never open together: the light ones
are closed before the full store opens, so the process never holds a light write transaction
beside a full one on the same file. The light store has at most two, as the full store's pool
would: the loop's (look-ups, a failed poll, the 304s) and the poll writer's thread's (its
batches), so the loop reads only what is committed, never a batch still being written.
``full()`` waits for a batch being written to finish before it closes them.

A file that does not exist yet is made here, without SQLAlchemy, as the full store's
migrations would make it (bot/store/fresh_sqlite.py); one whose schema is not the latest goes
to the full store at once (it migrates). PostgreSQL always gets the full store.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.models import Article, ChannelHistory, Delivery, DeliveryStatus, FeedItem
from bot.store.driver import SqliteExecutor
from bot.store.failure import driver_reason, sqlite3_retryable, store_failure
from bot.store.poll_sql import (
    SOURCE_STATES_SQL,
    articles_by_id_sql,
    dispatch_work_params,
    dispatch_work_sql,
    id_chunks,
    read_article,
    read_source_state,
)
from bot.store.poll_write import find_many, record_failure, record_successes, write_polls
from bot.store.queue_sql import history_params, history_sql, read_history
from bot.store.records import (
    ChannelState,
    PollRecord,
    PollSuccess,
    PollWrite,
    SourceState,
    WorkerView,
)
from bot.store.sqlite_file import DEFAULT_BUSY_TIMEOUT, apply_pragmas, sqlite_file
from bot.store.status_sql import (
    CHANNEL_STATES_SQL,
    COUNTS_BY_STATUS_SQL,
    deliveries_in_sql,
    last_discovered_sql,
    live_workers_params,
    live_workers_sql,
    newest_published_sql,
    read_channel_state,
    read_counts_by_status,
    read_delivery,
    read_rhythm,
    read_spend,
    read_worker,
    source_state_sql,
    spend_since_params,
    spend_since_sql,
)

if TYPE_CHECKING:
    from bot.errors import StoreError
    from bot.store.facade import Store

#: Every migration's number (bot/store/migrations.py's MIGRATIONS; a test holds them equal).
#: A store that has applied all of them needs no migration, so the light store may read it.
SCHEMA_VERSIONS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 11})


class CycleStore(Protocol):
    """What a cycle asks of the store before it knows there is work: the full ``Store``
    answers all of it, and so does the light store, which opens the full one for ``full()``.

    Code that needs more (a delivery to send, a digest) asks ``full()`` at that moment, not
    before: a cycle that only polls (no channel has a post due) never opens it."""

    def source_states(self) -> dict[str, SourceState]: ...

    def source_state(self, source_id: str) -> SourceState: ...

    def record_poll_successes(self, polls: Sequence[tuple[str, PollSuccess]]) -> None: ...

    def find_articles(self, items: Sequence[FeedItem]) -> list[Article | None]: ...

    def record_polls(self, polls: Sequence[PollRecord]) -> list[PollWrite | Exception]: ...

    def record_poll_failure(self, source_id: str, *, now: datetime, error: str,
                            next_poll_at: datetime) -> int: ...

    def has_dispatch_work(self, channels: Sequence[str], now: datetime) -> bool: ...

    def full(self) -> Store: ...


class StatusStore(Protocol):
    """What ``newsbot status`` (bot/operations.py ``status``) reads: the full ``Store``
    answers it, and so does the light store, over bot/store/status_sql.py's SQL."""

    def counts_by_status(self) -> dict[str, dict[str, int]]: ...

    def channel_states(self) -> dict[str, ChannelState]: ...

    def live_workers(self, now: datetime) -> list[WorkerView]: ...

    def source_state(self, source_id: str) -> SourceState: ...

    def source_rhythm(self, source_id: str, limit: int = 20
                      ) -> tuple[datetime | None, list[datetime]]: ...

    def deliveries(self, *, statuses: Iterable[DeliveryStatus] | None = None,
                   channel: str | None = None, limit: int | None = None,
                   newest_first: bool = False, since: datetime | None = None
                   ) -> list[Delivery]: ...

    def spend_since(self, channel: str, since: datetime) -> tuple[int, float]: ...


class QueueStore(Protocol):
    """What ``newsbot queue`` (bot/editor.py ``queue``, ``plan`` and ``known_channel``)
    reads: the full ``Store`` answers it, and so does the light store."""

    def counts_by_status(self) -> dict[str, dict[str, int]]: ...

    def channel_states(self) -> dict[str, ChannelState]: ...

    def deliveries(self, *, statuses: Iterable[DeliveryStatus] | None = None,
                   channel: str | None = None, limit: int | None = None,
                   newest_first: bool = False, since: datetime | None = None
                   ) -> list[Delivery]: ...

    def get_articles(self, ids: list[int]) -> dict[int, Article]: ...

    def channel_history(self, channel: str, now: datetime) -> ChannelHistory: ...


class LightStore:
    """``CycleStore`` over sqlite3 until ``full()`` is asked for. Used from a command's event
    loop, and ``record_polls`` from the poll writer's thread too (on a connection of its
    own); the full store it opens may be handed to others."""

    def __init__(self, url: str, connection: sqlite3.Connection, *,
                 busy_timeout: timedelta) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = connection  # the loop's
        self._writer: sqlite3.Connection | None = None  # the poll writer's, once it writes
        self._full: Store | None = None
        # Held while the writer's connection writes a batch, and while the store switches
        # to the full one (which closes the connections).
        self._lock = threading.Lock()

    def source_states(self) -> dict[str, SourceState]:
        """Every known source's state, by id, exactly as ``Store.source_states`` reads it."""
        if self._connection is None:
            return self.full().source_states()
        states = map(read_source_state, self._read("source_states", SOURCE_STATES_SQL))
        return {state.source_id: state for state in states}

    def record_poll_successes(self, polls: Sequence[tuple[str, PollSuccess]]) -> None:
        """As ``Store.record_poll_successes``: the same upserts, in one transaction that
        takes the write lock at BEGIN."""
        if self._connection is None:
            self.full().record_poll_successes(polls)
            return
        if not polls:
            return
        with self._failing("record_poll_successes"), _transaction(self._connection) as ex:
            record_successes(ex, polls)

    # -- what a poll with news writes (bot/store/poll_write.py, as the full store) ---------

    def find_articles(self, items: Sequence[FeedItem]) -> list[Article | None]:
        """As ``Store.find_articles``: on the loop's connection, which sees only what is
        committed (never the writer's batch in progress, as with the full store's pool)."""
        if self._connection is None:
            return self.full().find_articles(items)
        with self._failing("find_articles"):
            return find_many(SqliteExecutor(self._connection), items)

    def record_poll_failure(self, source_id: str, *, now: datetime, error: str,
                            next_poll_at: datetime) -> int:
        """As ``Store.record_poll_failure``."""
        if self._connection is None:
            return self.full().record_poll_failure(source_id, now=now, error=error,
                                                   next_poll_at=next_poll_at)
        with self._failing("record_poll_failure"), _transaction(self._connection) as ex:
            return record_failure(ex, source_id, now=now, error=error,
                                  next_poll_at=next_poll_at)

    def record_polls(self, polls: Sequence[PollRecord]) -> list[PollWrite | Exception]:
        """As ``Store.record_polls`` (the same code), on the writer's own connection: called
        from the poll writer's thread while the loop goes on with the light one."""
        with self._lock:
            if self._full is None and self._connection is not None:
                if self._writer is None:
                    try:
                        self._writer = _connect(self.url, self.busy_timeout)
                    except sqlite3.Error as exc:
                        return [self._error(exc, "record_poll")] * len(polls)
                writer = self._writer
                return write_polls(lambda: _transaction(writer), self._poll_failure, polls)
        return self.full().record_polls(polls)

    def _poll_failure(self, exc: Exception) -> Exception:
        """A poll's failure as ``Store.record_poll`` would have raised it."""
        if isinstance(exc, sqlite3.Error):
            return self._error(exc, "record_poll")
        return exc

    def has_dispatch_work(self, channels: Sequence[str], now: datetime) -> bool:
        """As ``Store.has_dispatch_work``."""
        if self._connection is None:
            return self.full().has_dispatch_work(channels, now)
        # The SQL answers one row or none.
        return bool(self._read("has_dispatch_work", dispatch_work_sql(False, len(channels)),
                               dispatch_work_params("sqlite", channels, now)))

    # -- what `newsbot status` reads (StatusStore): each as the full store's method -------

    def counts_by_status(self) -> dict[str, dict[str, int]]:
        if self._connection is None:
            return self.full().counts_by_status()
        return read_counts_by_status(self._read("counts_by_status", COUNTS_BY_STATUS_SQL))

    def channel_states(self) -> dict[str, ChannelState]:
        if self._connection is None:
            return self.full().channel_states()
        states = map(read_channel_state, self._read("channel_states", CHANNEL_STATES_SQL))
        return {state.channel: state for state in states}

    def live_workers(self, now: datetime) -> list[WorkerView]:
        if self._connection is None:
            return self.full().live_workers(now)
        rows = self._read("live_workers", live_workers_sql(False),
                          live_workers_params("sqlite", now))
        return [read_worker(row) for row in rows]

    def source_state(self, source_id: str) -> SourceState:
        if self._connection is None:
            return self.full().source_state(source_id)
        rows = self._read("source_state", source_state_sql(False), (source_id,))
        return read_source_state(rows[0]) if rows else SourceState(source_id)

    def source_rhythm(self, source_id: str, limit: int = 20
                      ) -> tuple[datetime | None, list[datetime]]:
        if self._connection is None:
            return self.full().source_rhythm(source_id, limit)
        (last,), = self._read("source_rhythm", last_discovered_sql(False), (source_id,))
        published = self._read("source_rhythm", newest_published_sql(False), (source_id, limit))
        return read_rhythm(last, published)

    def deliveries(self, *, statuses: Iterable[DeliveryStatus] | None = None,
                   channel: str | None = None, limit: int | None = None,
                   newest_first: bool = False, since: datetime | None = None
                   ) -> list[Delivery]:
        """Deliveries in ``statuses``, of one ``channel`` or all; any other filter or order
        opens the full store."""
        if (self._connection is None or statuses is None or limit or newest_first
                or since is not None):
            return self.full().deliveries(statuses=statuses, channel=channel, limit=limit,
                                          newest_first=newest_first, since=since)
        values = tuple(s.value for s in statuses)
        if not values:
            return []
        params = values if channel is None else (*values, channel)
        rows = self._read("deliveries",
                          deliveries_in_sql(False, len(values), channel is not None), params)
        return [read_delivery(row) for row in rows]

    # -- what `newsbot queue` reads besides (QueueStore) ------------------------------------

    def get_articles(self, ids: list[int]) -> dict[int, Article]:
        if self._connection is None:
            return self.full().get_articles(ids)
        return {article.id: article for chunk in id_chunks(ids) for article in map(
            read_article, self._read("get_articles", articles_by_id_sql(False, len(chunk)),
                                     chunk))}

    def channel_history(self, channel: str, now: datetime) -> ChannelHistory:
        if self._connection is None:
            return self.full().channel_history(channel, now)
        sent, flying, maybe = (
            self._read("channel_history", sql, params) for sql, params in
            zip(history_sql(False), history_params("sqlite", channel, now), strict=True))
        return read_history(channel, sent, flying, maybe)

    def spend_since(self, channel: str, since: datetime) -> tuple[int, float]:
        if self._connection is None:
            return self.full().spend_since(channel, since)
        (row,) = self._read("spend_since", spend_since_sql(False),
                            spend_since_params("sqlite", channel, since))
        return read_spend(row)

    def _read(self, operation: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        assert self._connection is not None
        with self._failing(operation):
            return self._connection.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def _failing(self, operation: str) -> Iterator[None]:
        """A sqlite3 error in the block leaves as the full store's StoreError for
        ``operation`` (not chained: its text may carry the SQL's values)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(exc, operation) from None

    def full(self) -> Store:
        """The full store, opened (and migrated) on the first call; the light connections are
        closed first (after the batch the writer may be writing) and not used again."""
        with self._lock:
            if self._full is None:
                self._close_connections()
                from bot.store.facade import open_store

                self._full = open_store(self.url, busy_timeout=self.busy_timeout)
            return self._full

    @property
    def opened_full(self) -> bool:
        """Whether a call needed the full store."""
        return self._full is not None

    def close(self) -> None:
        with self._lock:
            self._close_connections()
        if self._full is not None:
            self._full.close()

    def __enter__(self) -> LightStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_connections(self) -> None:
        for connection in (self._connection, self._writer):
            if connection is not None:
                connection.close()
        self._connection = self._writer = None

    def _error(self, exc: sqlite3.Error, operation: str) -> StoreError:
        """``exc`` as the full store words SQLAlchemy's wrapping of it (boundary.py)."""
        reason = driver_reason(exc, type(exc).__name__)
        return store_failure(reason, retryable=sqlite3_retryable(exc, reason), store=self.url,
                             operation=operation,
                             busy_timeout=self.busy_timeout.total_seconds())


def open_cycle_store(url: str, *, busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT
                     ) -> LightStore | Store:
    """The store for a short command that may find nothing to do (``once``) or only reads
    (``status``, ``queue``): the light store on a SQLite file whose schema is current (made
    first if there is none), else the full store (``open_store``)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        from bot.store.fresh_sqlite import create_store_file

        create_store_file(path, url, busy_timeout)
    connection = _connect_if_current(path, busy_timeout) if path is not None else None
    if connection is None:
        from bot.store.facade import open_store

        return open_store(url, busy_timeout=busy_timeout)
    return LightStore(url, connection, busy_timeout=busy_timeout)


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[SqliteExecutor]:
    """A write transaction that takes the write lock at BEGIN, as the full store's
    (``StoreBase.transaction``); rolled back on any exception."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield SqliteExecutor(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the first error is the one to tell
                connection.execute("ROLLBACK")
        raise


def _open(path: Path, busy_timeout: timedelta) -> sqlite3.Connection:
    """A connection to the existing file ``path``, set up as the full store's are."""
    # Opened read-write but never created: a file removed since the check stays absent.
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True,
                                 check_same_thread=False)
    try:
        apply_pragmas(connection, busy_timeout)
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def _connect(url: str, busy_timeout: timedelta) -> sqlite3.Connection:
    path = sqlite_file(url)
    assert path is not None  # a light store's URL is a plain file's
    return _open(path, busy_timeout)


def _connect_if_current(path: Path, busy_timeout: timedelta) -> sqlite3.Connection | None:
    """A connection to ``path`` set up as the full store's are, if the file exists and has
    every migration applied; None otherwise (the full store then creates or migrates it,
    and reports any trouble in its words)."""
    if not path.is_file():
        return None
    connection: sqlite3.Connection | None = None
    try:
        connection = _open(path, busy_timeout)
        applied = {version for (version,) in
                   connection.execute("SELECT version FROM schema_version")}
    except sqlite3.Error:
        if connection is not None:
            connection.close()
        return None
    if not SCHEMA_VERSIONS.issubset(applied):
        connection.close()
        return None
    return connection
