"""Stable identities: a link made for one reader never names or affects another (issue 11,
item 6). SQLite gave a removed subscriber's id to the next one added, and the old
unsubscribe link then showed, and unsubscribed, the new reader. Ids are now never reused
(AUTOINCREMENT, migration 4) and every token carries the row's random salt."""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from bot.config import Config, EmailChannel
from bot.digest.commands import reader_recipient
from bot.digest.mail_unsubscribe import unsubscribe_by_mail
from bot.digest.message import Recipient
from bot.digest.subscriber_list import subscribers_add, subscribers_remove
from bot.digest.tokens import make_token, secret_of
from bot.store import Store, open_store
from bot.store.digest_schema import subscribers
from bot.web.app import make_app
from tests.smtp_server import make_config

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _links(config: Config, sub_id: int, email: str, salt: str) -> Recipient:
    cfg = config.channels["digest"]
    assert isinstance(cfg, EmailChannel)
    return reader_recipient(config, cfg, secret_of(config), "digest", sub_id, email, salt=salt)


def _path(recipient: Recipient) -> str:
    return urlsplit(recipient.unsubscribe_url).path.removeprefix("/bot")


def _mail_reply(recipient: Recipient) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = "someone@example.com", "digest@news.example.org"
    msg["Subject"] = unquote(recipient.mailto.partition("subject=")[2])
    msg.set_content("unsubscribe")
    return msg.as_bytes()


def _assert_link_changes_nothing(config: Config, store: Store, old: Recipient,
                                 victim: str) -> None:
    client = TestClient(make_app(config, store))
    for response in (client.get(_path(old)), client.post(_path(old))):
        assert response.status_code == 400
        assert victim not in response.text
    result = unsubscribe_by_mail(config, store, _mail_reply(old), now=NOW)
    assert result.outcome == "invalid-token" and result.email is None
    sub = store.get_subscriber("digest", victim)
    assert sub is not None and sub.status == "active"


def test_a_removed_readers_old_link_never_names_or_affects_the_next_reader(
        tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    subscribers_add(store, "digest", "carol@example.com", now=NOW)
    alice = subscribers_add(store, "digest", "alice@example.com", now=NOW)
    old = _links(config, alice.id, alice.email, alice.token_salt)
    assert subscribers_remove(store, "digest", "alice@example.com")
    bob = subscribers_add(store, "digest", "bob@example.com", now=NOW)
    assert bob.id > alice.id  # never given twice, on either store
    _assert_link_changes_nothing(config, store, old, "bob@example.com")


def test_a_link_does_not_name_a_new_row_even_when_it_has_the_old_id(
        tmp_path: Path, store: Store) -> None:
    # Ids given out twice before the upgrade, or a sequence someone reset: the salt decides.
    config = make_config(tmp_path)
    alice = subscribers_add(store, "digest", "alice@example.com", now=NOW)
    old = _links(config, alice.id, alice.email, alice.token_salt)
    assert subscribers_remove(store, "digest", "alice@example.com")
    with store.engine.begin() as conn:
        conn.execute(subscribers.insert().values(
            id=alice.id, channel="digest", email="bob@example.com", status="active",
            hard_bounces=0, created_at=NOW, confirmed_at=NOW, updated_at=NOW,
            token_salt=secrets.token_hex(8)))
    _assert_link_changes_nothing(config, store, old, "bob@example.com")
    # A token forged without any salt does not name Bob either.
    bare = _links(config, alice.id, "bob@example.com", "")
    _assert_link_changes_nothing(config, store, bare, "bob@example.com")


def test_a_readers_own_link_still_works(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    alice = subscribers_add(store, "digest", "alice@example.com", now=NOW)
    link = _links(config, alice.id, alice.email, alice.token_salt)
    client = TestClient(make_app(config, store))
    assert "alice@example.com" in client.get(_path(link)).text
    assert client.post(_path(link)).status_code == 200
    assert store.get_subscriber_by_id(alice.id).status == "unsubscribed"  # type: ignore[union-attr]


# -- migration 4 on a store made by 0.1 --------------------------------------------------

_OLD_SUBSCRIBERS = """CREATE TABLE subscribers (
    id INTEGER NOT NULL, channel VARCHAR(200) NOT NULL, email VARCHAR(320) NOT NULL,
    status VARCHAR(16) NOT NULL, hard_bounces INTEGER NOT NULL, created_at DATETIME NOT NULL,
    confirmed_at DATETIME, unsubscribed_at DATETIME, updated_at DATETIME NOT NULL,
    PRIMARY KEY (id), CONSTRAINT uq_subscribers_channel_email UNIQUE (channel, email))"""
_OLD_RUNS = """CREATE TABLE digest_runs (
    id INTEGER NOT NULL, channel VARCHAR(200) NOT NULL, scheduled_for DATETIME NOT NULL,
    started_at DATETIME NOT NULL, finished_at DATETIME, article_count INTEGER NOT NULL,
    article_ids TEXT NOT NULL, status VARCHAR(16) NOT NULL, sent_count INTEGER NOT NULL,
    error TEXT NOT NULL, PRIMARY KEY (id),
    CONSTRAINT uq_digest_runs_channel_time UNIQUE (channel, scheduled_for))"""


def _make_01_store(url: str) -> None:
    """A store as 0.1 left it: tables without AUTOINCREMENT (SQLite) and no token salt,
    with two readers (ids 1 and 2) and a run whose copy to reader 2 is recorded."""
    open_store(url).close()
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("PRAGMA foreign_keys=OFF")
        for table, ddl in (("subscribers", _OLD_SUBSCRIBERS), ("digest_runs", _OLD_RUNS)):
            db.execute(f"DROP TABLE {table}")
            db.execute(ddl)
        db.execute("CREATE INDEX ix_subscribers_channel_status ON subscribers (channel, status)")
        db.execute("DELETE FROM schema_version WHERE version = 4")
        db.close()
    else:
        store = open_store(url)
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE subscribers DROP COLUMN token_salt"))
            conn.execute(text("DELETE FROM schema_version WHERE version = 4"))
        store.close()


def test_migration_4_keeps_readers_and_their_old_links_and_never_reuses_an_id(
        tmp_path: Path, store_url: str) -> None:
    _make_01_store(store_url)
    raw = create_engine(store_url)
    when = "2026-11-01 07:00:00"
    with raw.begin() as conn:
        for email in ("alice@example.com", "bob@example.com"):  # ids 1 and 2
            conn.execute(text(
                "INSERT INTO subscribers (channel, email, status, hard_bounces, created_at,"
                " confirmed_at, updated_at) VALUES ('digest', :e, 'active', 0, :t, :t, :t)"),
                {"e": email, "t": when})
        conn.execute(text(
            "INSERT INTO digest_runs (channel, scheduled_for, started_at, finished_at, "
            "article_count, article_ids, status, sent_count, error) VALUES "
            "('digest', :t, :t, :t, 0, '[]', 'sent', 1, '')"), {"t": when})
        conn.execute(text(
            "INSERT INTO digest_sends (run_id, subscriber_id, status, message_id, error, "
            "attempts, updated_at) VALUES (1, 2, 'sent', '<m@x>', '', 1, :t)"), {"t": when})
    raw.dispose()

    store = open_store(store_url)  # migration 4 runs here
    try:
        config = make_config(tmp_path)
        if store.dialect == "sqlite":
            with store.engine.connect() as conn:
                for table in ("subscribers", "digest_runs"):
                    ddl = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = :n"),
                                      {"n": table})
                    assert "AUTOINCREMENT" in str(ddl)
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        assert [(s.id, s.email, s.token_salt) for s in store.iter_subscribers("digest")] == [
            (1, "alice@example.com", ""), (2, "bob@example.com", "")]
        assert store.send_states(1) == {2: "sent"}
        # A link in a digest sent before the upgrade (no salt) still works for its reader...
        secret = secret_of(config)
        bob_old = f"/unsubscribe/{make_token(secret, 'unsubscribe', 'digest', 2)}"
        client = TestClient(make_app(config, store))
        assert "bob@example.com" in client.get(bob_old).text
        # ...and never for a reader added since, whatever id they get.
        assert subscribers_remove(store, "digest", "bob@example.com")
        carol = subscribers_add(store, "digest", "carol@example.com", now=NOW)
        assert carol.id == 3 and carol.token_salt
        assert client.post(bob_old).status_code == 400
        assert store.get_subscriber("digest", "carol@example.com").status == "active"  # type: ignore[union-attr]
    finally:
        store.close()
