"""Opening the store: one engine, SQLite or PostgreSQL, migrated on open.

**Every store call is synchronous and blocks its thread.** Errors leave the store as
``StoreError`` (``bot/store/boundary.py``). How long a call can block:

- *SQLite*: a write waits for the file's write lock up to the busy timeout
  (``DEFAULT_BUSY_TIMEOUT``, 10 s; ``NEWSBOT_SQLITE_BUSY_TIMEOUT`` for ``run`` and the CLI),
  then fails with a retryable StoreError. Every write transaction takes the lock at BEGIN
  (``StoreBase.transaction``, BEGIN IMMEDIATE), so a write never fails half-way because
  another connection wrote since it read (SQLITE_BUSY_SNAPSHOT does not wait). Only one
  ``newsbot run`` holds a SQLite file (bot/runlock.py), so the lock is contended by that
  process's own connections (the loop's writes, the lease and heartbeat in a thread) and by
  CLI commands and the web pages; those hold it for milliseconds, and the 10 s bites only
  behind a long writer: ``subscribers import`` of a large file, a migration, a backup.
- *PostgreSQL*: a call waits for a pooled connection (pool 5 + 5 overflow, 30 s pool
  timeout) and for row locks: ``claim`` locks the channel's row (so pacing and caps hold
  across workers) and so waits for another worker's claim on the same channel, a transaction
  of milliseconds; the deliveries themselves are taken with SKIP LOCKED. A server that is gone
  fails at once (pre-ping, connection refused) as a retryable StoreError, but a server that
  stops answering mid-query blocks until the OS gives up on the socket.

Where that matters on the event loop: ``newsbot run`` calls the lease and the heartbeat
each tick, and ``due_sources``, in a thread (``asyncio.to_thread``), as it does /healthz's
read and a digest's lease; the polls' writes go to a writer thread too
(bot/ingest/pollwriter.py: the polls ready together share one transaction, each feed in a
savepoint of its own). The calls left on the loop are short transactions, commented where
they happen: dispatch's claim and the outcome written after each send (bot/dispatch.py), a
polled feed's lookup of its items and a failed poll's record (bot/ingest/poll.py), a digest
copy's claim_send/finish_send (bot/digest/send.py). Each is a millisecond or so; at worst
(SQLite behind a long writer) it stalls the loop for the busy timeout, during which no other
send, poll or web answer moves. That is the reason to keep the busy timeout short
(``NEWSBOT_SQLITE_BUSY_TIMEOUT``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.errors import StoreError
from bot.store.boundary import is_retryable, translate
from bot.store.migrations import migrate
from bot.store.sqlite_file import DEFAULT_BUSY_TIMEOUT, apply_pragmas

__all__ = ["DEFAULT_BUSY_TIMEOUT", "StoreBase", "dialect_insert", "open_engine", "redact_url"]


def dialect_insert(dialect: str) -> Any:
    """The INSERT with ON CONFLICT for this store's dialect. Each dialect is imported here,
    when a write needs it: PostgreSQL's takes ~20 ms to import, and `newsbot status` on a
    SQLite store writes nothing."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def redact_url(url: str) -> str:
    """The store URL without its password, for messages and ``newsbot check``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


class StoreBase:
    """Holds the engine. Query mixins in this package add the operations."""

    def __init__(self, engine: Engine, *, busy_timeout: timedelta | None = None) -> None:
        self.engine = engine
        #: SQLite's busy timeout, named in a "database is locked" error (None: PostgreSQL).
        self.busy_timeout = busy_timeout

    def _store_error(self, exc: SQLAlchemyError, operation: str) -> StoreError:
        """``exc`` translated at the boundary (bot/store/boundary.py)."""
        wait = self.busy_timeout.total_seconds() if self.busy_timeout is not None else None
        return translate(exc, store=self.engine.url.render_as_string(hide_password=True),
                         operation=operation, busy_timeout=wait)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it takes the write lock up front (BEGIN IMMEDIATE),
        so read-then-write sequences (claiming, caps) cannot interleave between processes."""
        with self.engine.connect() as conn:
            conn.info["begin_immediate"] = True
            try:
                conn.begin()
            finally:
                conn.info.pop("begin_immediate", None)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(busy_timeout: timedelta, dbapi_conn: Any, _record: Any) -> None:
    apply_pragmas(dbapi_conn, busy_timeout)


def _sqlite_begin(conn: Connection) -> None:
    # pysqlite's own transaction handling is off (isolation_level None), so we say BEGIN:
    # plain for ordinary work, IMMEDIATE where the caller reads then writes.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("begin_immediate") else "BEGIN")


def open_engine(url: str, *, busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT) -> Engine:
    """Create an engine for ``url`` and apply pending migrations. Raises StoreError.

    ``busy_timeout``: how long a SQLite write waits for the write lock (ignored elsewhere)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"store: {url!r} is not a database URL; use sqlite:///newsbot.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_driver_name() != "psycopg":
            # A poll's statements are psycopg's own SQL (bot/store/poll_sql.py).
            raise StoreError(f"store: {redact_url(url)}: PostgreSQL is reached through psycopg; "
                             "use postgresql+psycopg://user@host/dbname")
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"store: cannot use {redact_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout))
        event.listen(engine, "begin", _sqlite_begin)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        orig = getattr(exc, "orig", None)
        reason = (str(orig if orig is not None else exc).strip().splitlines() or ["?"])[0]
        raise StoreError(f"store: cannot open {redact_url(url)}: {reason}",
                         retryable=is_retryable(exc)) from None
    return engine
