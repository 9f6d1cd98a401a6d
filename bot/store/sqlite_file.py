"""A SQLite store's file and connection set-up, without SQLAlchemy.

The full store applies these pragmas to each pooled connection (bot/store/base.py); the light
store (bot/store/light.py) and the run lock (bot/runlock.py) use them without loading
SQLAlchemy, so a short command that never needs the full store does not pay for it.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

#: How long a SQLite write waits for another connection's write lock before failing.
DEFAULT_BUSY_TIMEOUT = timedelta(seconds=10)
_PLAIN = "sqlite:///"


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL, as SQLAlchemy reads it; None for any
    other URL (PostgreSQL, in-memory, query parameters, percent-escapes): those are left to
    SQLAlchemy's parser (tests/test_light_store.py holds the two to the same answer)."""
    if not url.startswith(_PLAIN):
        return None
    path = url[len(_PLAIN):]
    if not path or path == ":memory:" or "?" in path or "%" in path:
        return None
    return Path(path)


def apply_pragmas(connection: sqlite3.Connection, busy_timeout: timedelta) -> None:
    """Set up a new connection as every store connection is."""
    # WAL lets readers (newsbot status) run while the bot writes; the busy timeout turns
    # brief lock contention into a wait instead of an error (see bot/store/base.py).
    connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout.total_seconds() * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
