"""Numbered migrations, each run once, in a transaction, at start.

Append a new ``(number, function)`` to MIGRATIONS for every schema change; never edit one that
has shipped. Each function receives a Connection inside the migration's transaction. Then add
its number to bot/store/light.py's SCHEMA_VERSIONS and regenerate what a new SQLite store is
made from (``python -m bot.store.fresh_sqlite --write``); tests fail until both are done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)

from bot.store import schema

# Each step below holds its own frozen copy of the tables it creates, exactly as they were when
# the step shipped: building them from bot/store/schema.py would make an old step create
# today's columns, and the ALTERs of a later step would then fail or guess. A column type here
# is the one the DDL needs (DateTime, not the UTCDateTime decorator, which only converts
# values). tests/test_migrations.py holds the end result equal to a fresh create_all.


def _create(conn: Connection, metadata: MetaData, *, skip: tuple[str, ...] = ()) -> None:
    """Create the step's tables and indexes; ``skip`` names stand-ins for earlier steps' tables."""
    tables = [t for name, t in metadata.tables.items() if name not in skip]
    metadata.create_all(conn, tables=tables, checkfirst=True)


def _initial(conn: Connection) -> None:
    m = MetaData()
    Table(
        "sources", m,
        Column("id", String(200), primary_key=True),
        Column("etag", Text, nullable=False),
        Column("last_modified", Text, nullable=False),
        Column("last_polled_at", DateTime),
        Column("last_success_at", DateTime),
        Column("last_error", Text, nullable=False),
        Column("consecutive_errors", Integer, nullable=False),
        Column("next_poll_at", DateTime),
        Column("items_seen", Integer, nullable=False),
    )
    articles = Table(
        "articles", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("source_id", String(200), nullable=False),
        Column("guid", Text, nullable=False),
        Column("guid_hash", String(64), nullable=False),
        Column("url", Text, nullable=False),
        Column("url_hash", String(64), nullable=False),
        Column("title", Text, nullable=False),
        Column("summary", Text, nullable=False),
        Column("summary_html", Text, nullable=False),
        Column("text", Text, nullable=False),
        Column("author", Text, nullable=False),
        Column("sections", Text, nullable=False),
        Column("language", String(35), nullable=False),
        Column("published_at", DateTime, nullable=False),
        Column("discovered_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("image_url", Text),
        Column("image_alt", Text, nullable=False),
        Column("announced", Boolean, nullable=False),
        UniqueConstraint("url_hash", name="uq_articles_url"),
        UniqueConstraint("source_id", "guid_hash", name="uq_articles_source_guid"),
    )
    Index("ix_articles_published", articles.c.published_at)
    deliveries = Table(
        "deliveries", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("article_id", Integer, ForeignKey("articles.id"), nullable=False),
        Column("channel", String(200), nullable=False),
        Column("status", String(16), nullable=False),
        Column("priority", Integer, nullable=False),
        Column("due_at", DateTime, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("claimed_by", String(200), nullable=False),
        Column("claimed_until", DateTime),
        Column("last_error", Text, nullable=False),
        Column("receipt_id", Text, nullable=False),
        Column("receipt_url", Text, nullable=False),
        Column("note", Text, nullable=False),
        Column("cost", Float, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("sent_at", DateTime),
        UniqueConstraint("article_id", "channel", name="uq_deliveries_article_channel"),
    )
    Index("ix_deliveries_status_due", deliveries.c.status, deliveries.c.due_at)
    Index("ix_deliveries_channel_sent", deliveries.c.channel, deliveries.c.sent_at)
    Table(
        "channel_state", m,
        Column("channel", String(200), primary_key=True),
        Column("paused", Boolean, nullable=False),
        Column("attention", Text, nullable=False),
        Column("chat_override", Text, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    Table(
        "leases", m,
        Column("name", String(200), primary_key=True),
        Column("holder", String(200), nullable=False),
        Column("expires_at", DateTime, nullable=False),
    )
    _create(conn, m)


def _digest(conn: Connection) -> None:
    m = MetaData()
    subscribers = Table(
        "subscribers", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("channel", String(200), nullable=False),
        Column("email", String(320), nullable=False),
        Column("status", String(16), nullable=False),
        Column("hard_bounces", Integer, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("confirmed_at", DateTime),
        Column("unsubscribed_at", DateTime),
        Column("updated_at", DateTime, nullable=False),
        UniqueConstraint("channel", "email", name="uq_subscribers_channel_email"),
    )
    Index("ix_subscribers_channel_status", subscribers.c.channel, subscribers.c.status)
    Table(
        "digest_runs", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("channel", String(200), nullable=False),
        Column("scheduled_for", DateTime, nullable=False),
        Column("started_at", DateTime, nullable=False),
        Column("finished_at", DateTime),
        Column("article_count", Integer, nullable=False),
        Column("article_ids", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("sent_count", Integer, nullable=False),
        Column("error", Text, nullable=False),
        UniqueConstraint("channel", "scheduled_for", name="uq_digest_runs_channel_time"),
    )
    Table(
        "digest_sends", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", Integer, ForeignKey("digest_runs.id"), nullable=False),
        Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
        Column("status", String(16), nullable=False),
        Column("message_id", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        UniqueConstraint("run_id", "subscriber_id", name="uq_digest_sends_run_subscriber"),
    )
    _create(conn, m)


def _confirmation_sends(conn: Connection) -> None:
    m = MetaData()
    # A stand-in for migration 2's table, so the foreign key resolves; it is not created.
    Table("subscribers", m, Column("id", Integer, primary_key=True))
    Table(
        "confirmation_sends", m,
        Column("subscriber_id", Integer, ForeignKey("subscribers.id"), primary_key=True),
        Column("last_sent_at", DateTime, nullable=False),
        Column("day_started_at", DateTime, nullable=False),
        Column("day_count", Integer, nullable=False),
    )
    _create(conn, m, skip=("subscribers",))


def _worker_views(conn: Connection) -> None:
    m = MetaData()
    # Each running worker's heartbeat and its own view of each channel (live, preview,
    # paused, needs attention and why), so `newsbot status` run from a shell without the
    # bot's secrets shows what the bot does, not what the shell's environment would do.
    Table(
        "workers", m,
        Column("worker", String(200), primary_key=True),
        Column("started_at", DateTime, nullable=False),
        Column("seen_at", DateTime, nullable=False),
        Column("channels", Text, nullable=False),
    )
    _create(conn, m)


def _source_parser(conn: Connection) -> None:
    # Which parser read each source's last feed, and why feedparser stood in when it did
    # (shown by `newsbot status -v`).
    conn.execute(text("ALTER TABLE sources ADD COLUMN parser TEXT NOT NULL DEFAULT ''"))
    conn.execute(text("ALTER TABLE sources ADD COLUMN parser_note TEXT NOT NULL DEFAULT ''"))


def _desk(conn: Connection) -> None:
    """The editors' desk: accounts, actions, failed logins, control-chat messages, values;
    and deliveries.edited_text (an editor's own text for a post)."""
    m = MetaData()
    Table(
        "editors", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(100), nullable=False),
        Column("password_hash", Text, nullable=False),
        Column("role", String(16), nullable=False),
        Column("session_version", Integer, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        UniqueConstraint("name", name="uq_editors_name"),
    )
    actions = Table(
        "desk_actions", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", DateTime, nullable=False),
        Column("editor", String(200), nullable=False),
        Column("action", String(32), nullable=False),
        Column("delivery_id", Integer),
        Column("channel", String(200), nullable=False),
        Column("detail", Text, nullable=False),
    )
    Index("ix_desk_actions_at", actions.c.at)
    failures = Table(
        "login_failures", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(300), nullable=False),
        Column("at", DateTime, nullable=False),
    )
    Index("ix_login_failures_key_at", failures.c.key, failures.c.at)
    Table(
        "desk_messages", m,
        Column("delivery_id", Integer, primary_key=True, autoincrement=False),
        Column("chat", String(200), nullable=False),
        Column("message_id", Integer, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("closed", Integer, nullable=False),
    )
    Table(
        "desk_values", m,
        Column("name", String(200), primary_key=True),
        Column("value", Text, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    _create(conn, m)
    conn.execute(text("ALTER TABLE deliveries ADD COLUMN edited_text TEXT NOT NULL DEFAULT ''"))


def _image_problem(conn: Connection) -> None:
    # The verdict of each article's one image check (why the image may not be posted), kept
    # on the article so channels and workers never check the same image again.
    conn.execute(text("ALTER TABLE articles ADD COLUMN image_problem TEXT NOT NULL DEFAULT ''"))


# Migration 4's tables as they are after it, frozen: (table, columns copied from the old
# table, CREATE TABLE for the new one, indexes to recreate).
_V4_SUBSCRIBER_COLUMNS = ("id, channel, email, status, hard_bounces, created_at, confirmed_at, "
                          "unsubscribed_at, updated_at")
_V4_SUBSCRIBERS = """CREATE TABLE subscribers_v4 (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    channel VARCHAR(200) NOT NULL,
    email VARCHAR(320) NOT NULL,
    status VARCHAR(16) NOT NULL,
    hard_bounces INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    confirmed_at DATETIME,
    unsubscribed_at DATETIME,
    updated_at DATETIME NOT NULL,
    token_salt VARCHAR(32) DEFAULT '' NOT NULL,
    CONSTRAINT uq_subscribers_channel_email UNIQUE (channel, email)
)"""
_V4_RUN_COLUMNS = ("id, channel, scheduled_for, started_at, finished_at, article_count, "
                   "article_ids, status, sent_count, error")
_V4_RUNS = """CREATE TABLE digest_runs_v4 (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    channel VARCHAR(200) NOT NULL,
    scheduled_for DATETIME NOT NULL,
    started_at DATETIME NOT NULL,
    finished_at DATETIME,
    article_count INTEGER NOT NULL,
    article_ids TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    sent_count INTEGER NOT NULL,
    error TEXT NOT NULL,
    CONSTRAINT uq_digest_runs_channel_time UNIQUE (channel, scheduled_for)
)"""
_V4_REBUILDS = (
    ("subscribers", _V4_SUBSCRIBER_COLUMNS, _V4_SUBSCRIBERS,
     ("CREATE INDEX ix_subscribers_channel_status ON subscribers (channel, status)",)),
    ("digest_runs", _V4_RUN_COLUMNS, _V4_RUNS, ()),
)


def _stable_ids(conn: Connection) -> None:
    """Ids that are never given twice, and a per-subscriber token salt.

    A SQLite table without AUTOINCREMENT gives a deleted row's id (the highest) to the next
    row, so a removed reader's unsubscribe link named, and unsubscribed, the reader added
    after them. SQLite cannot add AUTOINCREMENT to a table, so subscribers and digest_runs
    (the tables tokens name) are rebuilt: create the new table, copy, drop, rename, all in
    this migration's transaction (foreign keys are off meanwhile and checked before the
    commit; see migrate). PostgreSQL's sequences never reuse ids; there only the column is
    added. A store created after this change already has both (migration 2 built it).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE subscribers ADD COLUMN IF NOT EXISTS "
                          "token_salt VARCHAR(32) DEFAULT '' NOT NULL"))
        return
    for table, columns, create, indexes in _V4_REBUILDS:
        current = conn.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                   "AND name = :name"), {"name": table})
        if current is None or "AUTOINCREMENT" in str(current).upper():
            continue  # made by migration 2 from the current definitions: nothing to do
        conn.execute(text(create))
        conn.execute(text(f"INSERT INTO {table}_v4 ({columns}) SELECT {columns} FROM {table}"))
        conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text(f"ALTER TABLE {table}_v4 RENAME TO {table}"))
        for index in indexes:
            conn.execute(text(index))


_V11_DELIVERY_COLUMNS = ("id, article_id, channel, status, priority, due_at, attempts, claimed_by, "
                         "claimed_until, last_error, receipt_id, receipt_url, note, cost, "
                         "created_at, updated_at, sent_at, edited_text")
_V11_DELIVERIES = """CREATE TABLE deliveries_v11 (
    id INTEGER NOT NULL PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id),
    channel VARCHAR(200) NOT NULL,
    status VARCHAR(16) NOT NULL,
    priority INTEGER NOT NULL,
    due_at DATETIME NOT NULL,
    attempts INTEGER NOT NULL,
    claimed_by VARCHAR(200) NOT NULL,
    claimed_until DATETIME,
    last_error TEXT NOT NULL,
    receipt_id TEXT NOT NULL,
    receipt_url TEXT NOT NULL,
    note TEXT NOT NULL,
    cost FLOAT NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    sent_at DATETIME,
    edited_text TEXT NOT NULL DEFAULT '',
    revision INTEGER NOT NULL DEFAULT 0,
    edit_of TEXT NOT NULL DEFAULT '',
    CONSTRAINT uq_deliveries_article_channel_revision UNIQUE (article_id, channel, revision)
)"""


def _corrections(conn: Connection) -> None:
    """Corrections: an edit of a sent post is an outbox row of its own (revision 1, 2, …,
    ``edit_of`` the platform's id of the post it corrects), so a delivery is unique per
    (article, channel, revision); and ``articles.corrected_at``, when the feed last changed a
    sent article's title or summary (the digest marks it "Updated").

    SQLite cannot change a table's constraints, so there deliveries is rebuilt (create, copy,
    drop, rename; foreign keys are off meanwhile and checked before the commit, see migrate).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE articles ADD COLUMN corrected_at TIMESTAMP"))
        conn.execute(text("ALTER TABLE deliveries ADD COLUMN revision INTEGER NOT NULL DEFAULT 0"))
        conn.execute(text("ALTER TABLE deliveries ADD COLUMN edit_of TEXT NOT NULL DEFAULT ''"))
        conn.execute(text("ALTER TABLE deliveries DROP CONSTRAINT uq_deliveries_article_channel"))
        conn.execute(text("ALTER TABLE deliveries ADD CONSTRAINT "
                          "uq_deliveries_article_channel_revision "
                          "UNIQUE (article_id, channel, revision)"))
        return
    conn.execute(text("ALTER TABLE articles ADD COLUMN corrected_at DATETIME"))
    conn.execute(text(_V11_DELIVERIES))
    conn.execute(text(f"INSERT INTO deliveries_v11 ({_V11_DELIVERY_COLUMNS}) "
                      f"SELECT {_V11_DELIVERY_COLUMNS} FROM deliveries"))
    conn.execute(text("DROP TABLE deliveries"))
    conn.execute(text("ALTER TABLE deliveries_v11 RENAME TO deliveries"))
    conn.execute(text("CREATE INDEX ix_deliveries_status_due ON deliveries (status, due_at)"))
    conn.execute(text("CREATE INDEX ix_deliveries_channel_sent ON deliveries (channel, sent_at)"))


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _initial),
    (2, _digest),
    (3, _confirmation_sends),
    (4, _stable_ids),
    (5, _desk),
    (6, _worker_views),
    (7, _source_parser),
    (8, _image_problem),
    (11, _corrections),
]


def migrate(engine: Engine) -> list[int]:
    """Apply every migration not yet applied; return the numbers applied now."""
    applied_now: list[int] = []
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # SQLite's way to change a table is to rebuild it (migration 4), which with
            # foreign keys on would rewrite or break the references to it. Off for the
            # migrations (it can only be changed outside a transaction), checked before the
            # commit, and on again before the connection goes back to the pool.
            _pragma(conn, "PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    # Two workers starting together must not both run migration 1.
                    conn.execute(text("SELECT pg_advisory_xact_lock(7164201)"))
                schema.schema_version.create(conn, checkfirst=True)
                done = set(conn.scalars(select(schema.schema_version.c.version)))
                for number, step in sorted(MIGRATIONS):
                    if number in done:
                        continue
                    step(conn)
                    conn.execute(schema.schema_version.insert().values(
                        version=number, applied_at=datetime.now(UTC)))
                    applied_now.append(number)
                if sqlite and applied_now:
                    broken = conn.execute(text("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"store migration {applied_now} left rows whose "
                                           f"references are broken: {broken[:5]}")
        finally:
            if sqlite:
                _pragma(conn, "PRAGMA foreign_keys=ON")
    return applied_now


def _pragma(conn: Connection, statement: str) -> None:
    # On the DBAPI connection: through SQLAlchemy it would first open a transaction, in
    # which SQLite ignores PRAGMA foreign_keys.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
