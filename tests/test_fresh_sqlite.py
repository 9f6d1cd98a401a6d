"""A new SQLite store made without SQLAlchemy (bot/store/fresh_sqlite.py) is the file the
full store's migrations make, and is made whole or not at all."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bot.errors import StoreError
from bot.models import FeedItem
from bot.store import Store, migrations, open_store
from bot.store import fresh_sqlite as fresh
from bot.store.light import SCHEMA_VERSIONS, LightStore, open_cycle_store
from tests.test_startup import run_newsbot

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _light_created(path: Path) -> None:
    store = open_cycle_store(_url(path))
    assert isinstance(store, LightStore)
    store.close()


def test_the_generated_schema_is_what_the_migrations_make(tmp_path: Path) -> None:
    drift = fresh.generated_drift(fresh.full_store_schema(tmp_path))
    assert not drift, f"regenerate with `{fresh.REGENERATE}`:\n" + "\n".join(drift)


def test_a_new_store_made_without_sqlalchemy_is_the_one_the_full_store_makes(
        tmp_path: Path) -> None:
    _light_created(tmp_path / "light.db")
    light = fresh.read_schema(tmp_path / "light.db")
    full = fresh.full_store_schema(tmp_path)
    # sqlite_master row for row (type, name, table, SQL, in SQLite's order), sqlite_sequence,
    # the migrations recorded, and the header's settings (WAL among them).
    assert light.objects == full.objects
    assert light.sequences == full.sequences
    assert light.versions == full.versions == tuple(sorted(SCHEMA_VERSIONS))
    assert light.pragmas == full.pragmas
    assert dict(light.pragmas)["journal_mode"] == "wal"
    # Nothing is left of the temporary file it was built in.
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(("light.db", "full.db"))
            ] == []


def test_the_full_store_then_runs_no_migration_and_stores_articles(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    _light_created(path)
    engine = create_engine(_url(path))
    try:
        assert migrations.migrate(engine) == []
    finally:
        engine.dispose()
    with open_store(_url(path)) as store:
        article, new = store.add_article(FeedItem(
            source_id="en", guid="g1", url="https://news.example.org/1", title="One"), now=NOW)
        assert new
        assert store.get_article(article.id).title == "One"
        assert store.source_states() == {}
    with open_cycle_store(_url(path)) as light:
        assert isinstance(light, LightStore)
        assert light.get_articles([article.id])[article.id].title == "One"


def test_a_store_another_process_creates_meanwhile_is_used_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both build their file; the other links theirs into place first, so ours finds the
    # path taken, drops its own file and opens theirs.
    path = tmp_path / "race.db"
    real_link = os.link
    theirs: list[int] = []

    def other_first(source: Path, target: Path) -> None:
        monkeypatch.setattr(os, "link", real_link)
        fresh.create_store_file(path, _url(path), timedelta(seconds=1))
        theirs.append(path.stat().st_ino)
        real_link(source, target)

    monkeypatch.setattr(os, "link", other_first)
    with open_cycle_store(_url(path)) as store:
        assert isinstance(store, LightStore)
        assert store.source_states() == {}
    assert theirs == [path.stat().st_ino]
    assert fresh.read_schema(path).versions == tuple(sorted(SCHEMA_VERSIONS))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".new")] == []


def test_threads_creating_one_store_at_once_all_open_the_same_valid_store(
        tmp_path: Path) -> None:
    path = tmp_path / "together.db"
    start = threading.Barrier(6)
    opened: list[type] = []
    failed: list[BaseException] = []

    def create() -> None:
        try:
            start.wait()
            with open_cycle_store(_url(path)) as store:
                opened.append(type(store))
                store.record_poll_successes([])
                assert store.source_states() == {}
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failed
    assert opened == [LightStore] * 6
    made = fresh.read_schema(path)
    assert made.objects == fresh.full_store_schema(tmp_path).objects
    assert made.versions == tuple(sorted(SCHEMA_VERSIONS))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".new")] == []


@pytest.mark.parametrize("where", ["missing/dir/newsbot.db", "a-file/newsbot.db",
                                   "missing/a#b@c:d/news bot+1.db"])
def test_a_directory_that_cannot_hold_the_store_fails_in_the_full_stores_words(
        tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    url = _url(tmp_path / where)
    with pytest.raises(StoreError) as full:
        open_store(url)
    with pytest.raises(StoreError) as light:
        open_cycle_store(url)
    assert str(light.value) == str(full.value)
    assert str(light.value).endswith(": unable to open database file")
    assert light.value.retryable is full.value.retryable is False


def test_where_no_hard_link_can_be_made_the_full_store_creates_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(source: Path, target: Path) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "nolinks.db"
    with open_cycle_store(_url(path)) as store:
        assert isinstance(store, Store)
    assert fresh.read_schema(path).versions == tuple(sorted(SCHEMA_VERSIONS))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".new")] == []


def test_a_missing_store_with_a_stale_wal_is_left_to_the_full_store(tmp_path: Path) -> None:
    path = tmp_path / "stale.db"
    (tmp_path / "stale.db-wal").write_bytes(b"")
    with open_cycle_store(_url(path)) as store:
        assert isinstance(store, Store)


@pytest.mark.parametrize("command", ["status", "once"])
def test_a_command_on_a_new_sqlite_store_loads_no_sqlalchemy(tmp_path: Path,
                                                             command: str) -> None:
    # No sources: `once` polls nothing and finds nothing due, `status` reads an empty store.
    (tmp_path / "config.yaml").write_text(
        f"store: {_url(tmp_path / 'newsbot.db')}\nweb: {{enabled: false}}\n"
        "sources: []\nchannels: {}\n")
    loaded = set(run_newsbot(tmp_path, command)["modules"])
    assert "bot.store.fresh_sqlite" in loaded  # it did make the store
    assert not [m for m in loaded if m.split(".")[0] == "sqlalchemy"]
    assert fresh.read_schema(tmp_path / "newsbot.db").versions == tuple(
        sorted(SCHEMA_VERSIONS))
