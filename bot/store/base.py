"""Opening the store: one engine, SQLite or PostgreSQL, migrated on open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from bot.errors import StoreError
from bot.store.migrations import migrate


def redact_url(url: str) -> str:
    """The store URL without its password, for messages and ``newsbot check``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


class StoreBase:
    """Holds the engine. Query mixins in this package add the operations."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (newsbot status) run while the bot writes; the busy timeout turns
    # brief lock contention into a wait instead of an error.
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # pysqlite's own transaction handling is off (isolation_level None), so we say BEGIN:
    # plain for ordinary work, IMMEDIATE where the caller reads then writes.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("begin_immediate") else "BEGIN")


def open_engine(url: str) -> Engine:
    """Create an engine for ``url`` and apply pending migrations. Raises StoreError."""
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
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"store: cannot use {redact_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    try:
        migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"store: cannot open {redact_url(url)}: {reason}") from None
    return engine
