"""Where a poll's driver SQL runs: a SQLAlchemy connection (the full store, SQLite or
PostgreSQL) or a plain ``sqlite3`` connection (the light store, bot/store/light.py).

What a poll writes (bot/store/poll_write.py) is one piece of code over this small interface,
so the light store stores a cold round without importing SQLAlchemy (a fifth of a second of
`newsbot once`) and still writes what the full store writes, by the same statements.

Neither adapter imports SQLAlchemy: the full store's hands in a Connection it already has.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Connection, CursorResult

Params = tuple[Any, ...]


class Executor(Protocol):
    """Runs driver SQL (placeholders from bot/store/poll_sql.py) in the caller's transaction."""

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql": which placeholders and bound values the SQL takes."""
        ...

    def rows(self, sql: str, params: Params = ()) -> Sequence[Sequence[Any]]:
        """Every row ``sql`` gives (a RETURNING clause's too), as sequences of values."""
        ...

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run ``sql``; how many rows it changed."""
        ...

    def execute_many(self, sql: str, rows: list[Params]) -> None:
        """Run ``sql`` once for each of ``rows`` (executemany)."""
        ...


def run(conn: Connection, sql: str, params: tuple[Any, ...] | list[tuple[Any, ...]]
        ) -> CursorResult[Any]:
    """Run ``sql`` (placeholders from bot/store/poll_sql.py) with one tuple of values, or a list of
    them (executemany)."""
    if conn.dialect.name != "postgresql":
        return conn.exec_driver_sql(sql, params)
    import psycopg

    # exec_driver_sql asks the connection for a cursor; for this statement that is a
    # RawCursor, which takes $n placeholders as they are (the next statement gets the usual).
    raw: Any = conn.connection.dbapi_connection
    usual = raw.cursor_factory
    raw.cursor_factory = psycopg.RawCursor
    try:
        return conn.exec_driver_sql(sql, params)
    finally:
        raw.cursor_factory = usual


class AlchemyExecutor:
    """The full store's connection: SQLite's ``?`` or psycopg's ``$n`` (through
    ``run``), errors raised as SQLAlchemy's for the store's boundary to translate."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def rows(self, sql: str, params: Params = ()) -> Sequence[Sequence[Any]]:
        return run(self.conn, sql, params).all()

    def execute(self, sql: str, params: Params = ()) -> int:
        return run(self.conn, sql, params).rowcount

    def execute_many(self, sql: str, rows: list[Params]) -> None:
        run(self.conn, sql, rows[0] if len(rows) == 1 else rows)


class SqliteExecutor:
    """A light store's ``sqlite3`` connection (autocommit: the caller says BEGIN); errors
    raised as sqlite3's, which the light store words as the full store does."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def rows(self, sql: str, params: Params = ()) -> Sequence[Sequence[Any]]:
        return self.connection.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Params = ()) -> int:
        return self.connection.execute(sql, params).rowcount

    def execute_many(self, sql: str, rows: list[Params]) -> None:
        self.connection.executemany(sql, rows)
