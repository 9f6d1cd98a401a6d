"""One process at a time on a SQLite store: a lock file next to the database.

SQLite has no SKIP LOCKED and no advisory locks, and a file shared by two long-running bots
(or one on a network drive) is how state gets corrupted. So ``newsbot run`` holds an
exclusive ``fcntl.flock`` on ``<database>.lock`` for its whole lifetime; a second process on
the same file is refused with a message that names the holder. The kernel drops the lock when
the process dies, however it dies, so a crash never leaves a stale lock behind.

PostgreSQL stores need no lock: several workers share them by design.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from bot.errors import NewsbotError
from bot.store.sqlite_file import sqlite_file


class StoreBusyError(NewsbotError, RuntimeError):
    """Another newsbot process is already working this SQLite store."""


def lock_path(store_url: str) -> Path | None:
    """The lock file for a SQLite store URL; None when no lock is needed (PostgreSQL,
    an in-memory database, a URL that is not a database URL)."""
    plain = sqlite_file(store_url)  # the usual URL, read without loading SQLAlchemy
    if plain is not None:
        return plain.with_name(plain.name + ".lock")
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(store_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = Path(url.database)
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def hold_run_lock(store_url: str, *, command: str = "run") -> Iterator[Path | None]:
    """Hold the store's run lock for the duration of the block.

    Raises ``StoreBusyError`` at once (never waits) when another process holds it. Yields
    the lock file's path, or None for a store that needs no lock.
    """
    path = lock_path(store_url)
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise StoreBusyError(
                f"store: {path.with_suffix('')} is already in use by {holder}. One newsbot "
                f"process at a time may work a SQLite store: stop that one before `newsbot "
                f"{command}`, or move the store to PostgreSQL to run several workers."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"newsbot {command} (pid {os.getpid()} on {socket.gethostname()})\n"
                  .encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock
