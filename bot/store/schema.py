"""The store's tables (SQLAlchemy Core). Changes to them go through bot/store/migrations.py.

Long text keys (guids, URLs) are indexed by their SHA-256, because PostgreSQL's btree
refuses entries over ~2.7 kB and a feed can hand us a guid of any length.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from bot.store.utc import aware_utc, naive_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else naive_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        aware: datetime | None = aware_utc(value)
        return aware


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", UTCDateTime, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("etag", Text, nullable=False, default=""),
    Column("last_modified", Text, nullable=False, default=""),
    Column("last_polled_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text, nullable=False, default=""),
    Column("consecutive_errors", Integer, nullable=False, default=0),
    Column("next_poll_at", UTCDateTime),
    Column("items_seen", Integer, nullable=False, default=0),
    # which parser read the last feed (fastfeedparser, feedparser, jsonfeed) and, when
    # feedparser stood in for fastfeedparser, why (migration 7)
    Column("parser", Text, nullable=False, default=""),
    Column("parser_note", Text, nullable=False, default=""),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(200), nullable=False),
    Column("guid", Text, nullable=False),
    Column("guid_hash", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("url_hash", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("summary_html", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("author", Text, nullable=False, default=""),
    Column("sections", Text, nullable=False, default="[]"),  # JSON list
    Column("language", String(35), nullable=False, default=""),
    Column("published_at", UTCDateTime, nullable=False),
    Column("discovered_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("image_url", Text),
    Column("image_alt", Text, nullable=False, default=""),
    # why the lead image failed its one check at ingest ("" = usable; migration 8)
    Column("image_problem", Text, nullable=False, default=""),
    # False for items seen on a first poll that were older than the backfill window.
    Column("announced", Boolean, nullable=False, default=True),
    # When the feed last changed the title or summary of an article already posted
    # (corrections, migration 11); the digest marks such an article "Updated".
    Column("corrected_at", UTCDateTime),
    UniqueConstraint("url_hash", name="uq_articles_url"),
    UniqueConstraint("source_id", "guid_hash", name="uq_articles_source_guid"),
)
Index("ix_articles_published", articles.c.published_at)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("article_id", Integer, ForeignKey("articles.id"), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("due_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(200), nullable=False, default=""),
    Column("claimed_until", UTCDateTime),
    Column("last_error", Text, nullable=False, default=""),
    Column("receipt_id", Text, nullable=False, default=""),
    Column("receipt_url", Text, nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("cost", Float, nullable=False, default=0.0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # An editor's own text for this post (desk, migration 5): sent instead of the template.
    Column("edited_text", Text, nullable=False, default=""),
    # Corrections (migration 11): 0 for the post itself; 1, 2, … for each edit of it, whose
    # edit_of is the platform's id of the sent post it corrects.
    Column("revision", Integer, nullable=False, default=0),
    Column("edit_of", Text, nullable=False, default=""),
    UniqueConstraint("article_id", "channel", "revision",
                     name="uq_deliveries_article_channel_revision"),
)
Index("ix_deliveries_status_due", deliveries.c.status, deliveries.c.due_at)
Index("ix_deliveries_channel_sent", deliveries.c.channel, deliveries.c.sent_at)

channel_state = Table(
    "channel_state",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("attention", Text, nullable=False, default=""),  # why a person must look
    Column("chat_override", Text, nullable=False, default=""),  # e.g. Telegram chat migration
    Column("updated_at", UTCDateTime, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

#: Running workers: a heartbeat and each channel's mode as that worker sees it (JSON:
#: {"channel": {"mode": "live" | "preview" | "paused" | "needs attention", "why": "..."}}).
workers = Table(
    "workers",
    metadata,
    Column("worker", String(200), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    Column("channels", Text, nullable=False, default="{}"),
)
