"""What a failed store call tells its caller: one ``StoreError``, worded the same whether
SQLAlchemy (bot/store/boundary.py) or the light store's sqlite3 (bot/store/light.py) failed."""

from __future__ import annotations

import sqlite3

from bot.errors import StoreError

#: SQLite answers these as OperationalError, but asking again gives the same answer.
PERMANENT_SQLITE = ("no such table", "no such column", "readonly database", "malformed",
                    "not a database", "unable to open database file", "disk is full")


def permanent_sqlite(reason: str) -> bool:
    """Whether SQLite's ``reason`` for an OperationalError is one asking again won't change."""
    return any(marker in reason.lower() for marker in PERMANENT_SQLITE)


def driver_reason(error: BaseException, fallback: str) -> str:
    """The driver's own words for ``error``, first line only (never the SQL or its
    parameters), at most 300 characters; ``fallback`` when it says nothing."""
    return (str(error).strip().splitlines() or [fallback])[0][:300]


def sqlite3_retryable(exc: sqlite3.Error, reason: str) -> bool:
    """Whether a call that failed with sqlite3's ``exc`` (``reason``: its words) may work if
    tried again: what bot/store/boundary.py's ``is_retryable`` answers for SQLAlchemy's
    wrapping of it (without importing SQLAlchemy)."""
    return (isinstance(exc, sqlite3.InterfaceError)
            or (isinstance(exc, sqlite3.OperationalError) and not permanent_sqlite(reason))
            # SQLAlchemy's SQLite dialect takes this one for a lost connection
            or (isinstance(exc, sqlite3.ProgrammingError)
                and "Cannot operate on a closed database." in str(exc)))


def store_failure(reason: str, *, retryable: bool, store: str, operation: str,
                  busy_timeout: float | None = None) -> StoreError:
    """The StoreError for ``operation`` on ``store`` (its URL, password hidden), which failed
    for ``reason`` (the driver's words, first line only: never the SQL or its parameters)."""
    hint = ""
    if "database is locked" in reason or "database is busy" in reason:
        wait = f"{busy_timeout:g} s " if busy_timeout is not None else ""
        hint = (f": another connection held the write lock past the {wait}busy timeout "
                "(a long import or migration, or a second process on the file)")
    elif retryable:
        hint = ": tried again at the next attempt; check that the database server is running"
    return StoreError(f"store {store}: {operation} failed: {reason}{hint}",
                      retryable=retryable)
