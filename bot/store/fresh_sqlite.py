"""A brand-new SQLite store, made without SQLAlchemy.

The full store creates a new file by running every migration (bot/store/migrations.py) over
SQLAlchemy: importing it costs more CPU than the rest of a first ``newsbot once`` or
``status`` does with an empty store. Here the same file is made with ``sqlite3`` from the
statements those migrations leave in ``sqlite_master``, replayed in the order SQLite
recorded them (bot/store/fresh_sqlite_schema.py, generated from the real thing by
``python -m bot.store.fresh_sqlite --write``; tests/test_fresh_sqlite.py fails when it drifts).

The file is built under a temporary name beside the target and hard-linked into place:
``os.link`` fails if the path exists, so two processes creating the same store at once end
with one of the two complete files, never a half-made one at the path.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from bot.errors import StoreError
from bot.store.failure import sqlite3_retryable
from bot.store.fresh_sqlite_schema import SEQUENCES, STATEMENTS, VERSIONS
from bot.store.sqlite_file import apply_pragmas

#: Settings kept in the file's header (apply_pragmas makes journal_mode WAL); the rest are
#: per connection. A new store must have the full store's values of each.
PERSISTENT_PRAGMAS = ("journal_mode", "page_size", "auto_vacuum", "encoding", "user_version",
                      "application_id")
_GENERATED = Path(__file__).with_name("fresh_sqlite_schema.py")
REGENERATE = "python -m bot.store.fresh_sqlite --write"
_PLAIN = "sqlite:///"


@dataclass(frozen=True)
class StoreSchema:
    """What a SQLite store file holds besides its rows: ``sqlite_master`` (type, name, table,
    SQL; in the order SQLite recorded them), ``sqlite_sequence``, the migrations recorded in
    ``schema_version``, and the settings in its header."""

    objects: tuple[tuple[str, str, str, str | None], ...]
    sequences: tuple[tuple[str, int], ...]
    versions: tuple[int, ...]
    pragmas: tuple[tuple[str, str | int], ...]

    @property
    def statements(self) -> tuple[str, ...]:
        """The CREATE statements that make these objects again, in order. SQLite makes its
        own (``sqlite_sequence``, the autoindexes of UNIQUE constraints) itself."""
        return tuple(sql for _, name, _, sql in self.objects
                     if sql is not None and not name.startswith("sqlite_"))


def create_store_file(path: Path, url: str, busy_timeout: timedelta) -> None:
    """Make a current, empty store at ``path`` unless a file is there (or appears there
    meanwhile: then that one is left as it is). Raises StoreError, worded as the full store's,
    if its directory cannot hold a database. Where a file cannot be made this way (stale WAL
    files at the path, no hard links on this file system) it does nothing, and the caller's
    full store creates it as it always has."""
    if any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm")):
        # A -wal left by a removed store could be replayed into a file linked into its place;
        # that rare case keeps the path it always had (the full store creates the file).
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(6)}.new")
    try:
        # sqlite3 creates the file: a missing or unwritable directory fails here, in SQLite's
        # words, as it does for the full store.
        connection = sqlite3.connect(temporary, isolation_level=None)
    except sqlite3.Error as exc:
        raise _cannot_open(url, exc) from None
    try:
        try:
            _build(connection, busy_timeout)
        finally:
            # The last connection's close checkpoints the WAL and removes -wal and -shm, so
            # the file linked into place is whole by itself.
            connection.close()
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process made it first; the caller opens theirs
    except sqlite3.Error as exc:
        raise _cannot_open(url, exc) from None
    except OSError:
        pass  # no hard links here (some network file systems): the full store creates it
    finally:
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            leftover.unlink(missing_ok=True)


def _build(connection: sqlite3.Connection, busy_timeout: timedelta) -> None:
    apply_pragmas(connection, busy_timeout)
    # Each migration records the moment it ran; here all ran now (naive UTC, as SQLAlchemy's
    # DateTime writes it: "%Y-%m-%d %H:%M:%S.%f").
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    connection.execute("BEGIN")
    try:
        for statement in STATEMENTS:
            connection.execute(statement)
        connection.executemany("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                               SEQUENCES)
        connection.executemany("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                               [(version, now) for version in VERSIONS])
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _cannot_open(url: str, exc: sqlite3.Error) -> StoreError:
    # The full store's words (bot/store/base.py open_engine), with the URL as SQLAlchemy
    # renders a plain sqlite:/// one: no password to hide, the path percent-quoted but for
    # " +/" (so "#", "@" and ":" are shown escaped, as there).
    shown = _PLAIN + quote(url[len(_PLAIN):], safe=" +/")
    reason = (str(exc).strip().splitlines() or ["?"])[0]
    # Retryable as open_engine's is_retryable finds SQLAlchemy's wrapping of the same error.
    return StoreError(f"store: cannot open {shown}: {reason}",
                      retryable=sqlite3_retryable(exc, reason))


def read_schema(path: Path) -> StoreSchema:
    """The schema of the SQLite store at ``path``, read with sqlite3."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        objects = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").fetchall()
        sequences = connection.execute(
            "SELECT name, seq FROM sqlite_sequence ORDER BY rowid").fetchall()
        versions = [v for (v,) in connection.execute(
            "SELECT version FROM schema_version ORDER BY version")]
        pragmas = [(name, connection.execute(f"PRAGMA {name}").fetchone()[0])
                   for name in PERSISTENT_PRAGMAS]
    finally:
        connection.close()
    return StoreSchema(tuple(objects), tuple(sequences), tuple(versions), tuple(pragmas))


def full_store_schema(directory: Path) -> StoreSchema:
    """The schema the full store's migrations give a new file (made in ``directory``)."""
    from bot.store.facade import open_store  # SQLAlchemy: only to generate and to test

    path = directory / "full.db"
    open_store(f"sqlite:///{path}").close()
    return read_schema(path)


def generated_drift(schema: StoreSchema) -> list[str]:
    """How bot/store/fresh_sqlite_schema.py differs from ``schema`` (empty: it does not)."""
    kept = (("STATEMENTS", STATEMENTS, schema.statements),
            ("SEQUENCES", SEQUENCES, schema.sequences),
            ("VERSIONS", VERSIONS, schema.versions))
    return [f"{name}: generated {have!r}, migrations make {want!r}"
            for name, have, want in kept if have != want]


def render(schema: StoreSchema) -> str:
    """bot/store/fresh_sqlite_schema.py's text for ``schema``."""
    lines = ['"""GENERATED by `' + REGENERATE + '`: do not edit.',
             "",
             "What bot/store/migrations.py's migrate leaves in a new SQLite file, for",
             "bot/store/fresh_sqlite.py to make the same file without SQLAlchemy.",
             '"""',
             "# ruff: noqa: E501",
             "",
             "#: sqlite_master's statements, in the order SQLite recorded them.",
             "STATEMENTS: tuple[str, ...] = ("]
    for statement in schema.statements:
        lines.append("    (")
        # One string piece a line, so the generated file reads like the SQL it holds.
        lines.extend("        " + json.dumps(part) for part in
                     statement.splitlines(keepends=True))
        lines.append("    ),")
    lines += [")",
              "",
              "#: sqlite_sequence's rows (AUTOINCREMENT tables rebuilt by a migration keep one).",
              f"SEQUENCES: tuple[tuple[str, int], ...] = {schema.sequences!r}",
              "",
              "#: schema_version's versions: every migration, applied.",
              f"VERSIONS: tuple[int, ...] = {schema.versions!r}",
              ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.store.fresh_sqlite",
        description="Regenerate bot/store/fresh_sqlite_schema.py from the migrations.")
    parser.add_argument("--write", action="store_true",
                        help="write the file (default: print its new text)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        text = render(full_store_schema(Path(directory)))
    if args.write:
        _GENERATED.write_text(text, encoding="utf-8")
        print(f"wrote {_GENERATED}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
