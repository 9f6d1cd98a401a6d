"""The store's boundary: a database that is locked or gone is a StoreError that names the
store and says whether to try again; the bot and the CLI report it in one line; and a write
never fails because another connection (the worker's heartbeat) wrote meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event

from bot.cli import cli
from bot.config import load_config
from bot.errors import StoreError
from bot.models import FeedItem
from bot.scheduler import Service
from bot.store import ChannelView, open_store
from tests.kit import newsroom_yaml

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SHORT = timedelta(milliseconds=150)


def test_nothing_outside_the_store_knows_sqlalchemy_errors() -> None:
    # (bot/runlock.py parses a URL with SQLAlchemy's ArgumentError: not a database error.)
    names = re.compile(r"\b(SQLAlchemyError|OperationalError|DBAPIError|IntegrityError|"
                       r"InterfaceError|DisconnectionError)\b")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "bot").rglob("*.py"))
                 if path.relative_to(ROOT / "bot").parts[0] != "store"
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if names.search(line)]
    assert offenders == []


def test_every_write_transaction_in_the_store_takes_the_lock_at_begin() -> None:
    # engine.begin() is a deferred BEGIN on SQLite: a transaction that reads, then writes after
    # another connection committed, fails at once with "database is locked" (no busy wait).
    found = [f"{path.name}:{n}" for path in sorted((ROOT / "bot/store").glob("*.py"))
             if path.name != "migrations.py"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if "engine.begin()" in line]
    assert found == []


def test_a_heartbeat_written_while_a_poll_stores_its_articles_fails_neither(
        tmp_path: Path) -> None:
    """The flake in test_reload.py: the worker's heartbeat (another thread, another
    connection) committed between the poll's read and its insert, and the insert failed."""
    url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    poll, worker = open_store(url), open_store(url)
    beat_done = threading.Event()
    errors: list[BaseException] = []

    def heartbeat() -> None:
        try:
            worker.heartbeat("host:1", now=NOW, channels={"tg": ChannelView("live")})
        except BaseException as exc:
            errors.append(exc)
        beat_done.set()

    def beat_before_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO articles") and not beat_done.is_set():
            threading.Thread(target=heartbeat).start()
            beat_done.wait(0.3)  # it commits now unless this transaction holds the lock

    event.listen(poll.engine, "before_cursor_execute", beat_before_insert)
    try:
        article, new = poll.add_article(FeedItem(
            source_id="en", guid="g1", url="https://news.example.org/1", title="One"), now=NOW)
        assert beat_done.wait(5)
    finally:
        event.remove(poll.engine, "before_cursor_execute", beat_before_insert)
    assert new and poll.get_article(article.id) is not None
    assert errors == []
    assert [w.worker for w in poll.live_workers(NOW)] == ["host:1"]
    poll.close()
    worker.close()


@pytest.fixture
def locked_sqlite(tmp_path: Path) -> Iterator[str]:
    """A SQLite store whose write lock another process's connection holds."""
    path = tmp_path / "newsbot.db"
    open_store(f"sqlite:///{path}").close()  # created and migrated
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield f"sqlite:///{path}"
    other.rollback()
    other.close()


def test_a_locked_sqlite_store_is_a_retryable_store_error_naming_the_file(
        locked_sqlite: str) -> None:
    with open_store(locked_sqlite, busy_timeout=SHORT) as store:
        with pytest.raises(StoreError) as caught:
            store.update_channel("tg", now=NOW, paused=True)
        assert store.channel_states() == {}  # reading goes on (WAL) while the lock is held
    error = caught.value
    assert error.retryable
    assert str(error).startswith(f"store {locked_sqlite}: update_channel failed: "
                                 "database is locked")
    assert "0.15 s busy timeout" in str(error)
    assert "INSERT" not in str(error) and "UPDATE" not in str(error)  # never the SQL


class _Proxy:
    """A TCP relay to PostgreSQL that can be cut, as a server that went away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        for sock in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_a_postgresql_server_that_went_away_is_a_retryable_store_error(
        pg_schema_url: str) -> None:
    from sqlalchemy.engine import make_url

    real = make_url(pg_schema_url)
    proxy = _Proxy((real.host or "127.0.0.1", real.port or 5432))
    url = real.set(host="127.0.0.1", port=proxy.port, password="s3cret")
    store = open_store(url.render_as_string(hide_password=False))
    try:
        store.update_channel("tg", now=NOW, paused=True)
        proxy.cut()
        with pytest.raises(StoreError) as caught:
            store.channel_states()
    finally:
        store.close()
    error = caught.value
    assert error.retryable
    assert f"store postgresql+psycopg://postgres:***@127.0.0.1:{proxy.port}/" in str(error)
    assert "channel_states failed" in str(error) and "s3cret" not in str(error)


CONFIG = newsroom_yaml('tg: {type: telegram, chat: "@c", preview: true}', store="STORE",
                       extra="web: {enabled: false}\n")


async def test_the_running_bot_logs_a_locked_store_in_one_line_and_keeps_ticking(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "config.yaml"
    url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    path.write_text(CONFIG.replace("STORE", url), encoding="utf-8")
    config = load_config(path)
    store = open_store(url, busy_timeout=SHORT)
    service = Service(path, config, store, check_at_start=False)
    await service.start()
    assert service.scheduler is not None
    service.scheduler.pause()  # the test is the clock
    while service._jobs or service._source_polls:  # the tick made at start, if it began
        await asyncio.sleep(0.01)
    other = sqlite3.connect(tmp_path / "newsbot.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="newsbot.run"):
            await service.poll_tick()  # lease and heartbeat: both need the write lock
        assert service.is_leader is False  # not knowing, it does not poll
        problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
        other.rollback()
        await service.poll_tick()  # the store answers again: the next tick carries on
        assert service.is_leader is True
        assert [w.worker for w in store.live_workers(datetime.now(UTC))] == [service.worker]
    finally:
        other.close()
        await service.stop()
        store.close()
    assert {"poll", "heartbeat not recorded"} <= {r.getMessage().split(":")[0] for r in problems}
    assert all("database is locked" in r.getMessage() and r.exc_info is None for r in problems)


def test_a_cli_command_on_a_locked_store_says_so_in_one_line(
        locked_sqlite: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.replace("STORE", locked_sqlite), encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_SQLITE_BUSY_TIMEOUT", "0.15")
    result = CliRunner().invoke(cli, ["--config", str(path), "pause", "tg"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: store {locked_sqlite}: update_channel failed: database is locked: another "
        "connection held the write lock past the 0.15 s busy timeout (a long import or "
        "migration, or a second process on the file)"]
