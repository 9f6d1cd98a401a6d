"""Tables for the email digest: subscribers, digest runs, per-recipient sends, and when each
address was last sent a confirmation email.

A digest run is one scheduled edition of one email channel. Its articles are fixed when the
run starts (``article_ids``), so a run resumed after a crash sends the very same digest, and
``digest_sends`` holds one row per (run, subscriber): the row is written *before* a message
goes out, so a resumed run never sends anyone a second copy.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from bot.store.schema import UTCDateTime, metadata

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),
    Column("email", String(320), nullable=False),  # normalised by email-validator
    Column("status", String(16), nullable=False),  # pending | active | unsubscribed | bounced
    Column("hard_bounces", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # Random, set when the row is created and signed into every token that names it, so a
    # link made for one subscriber never names another. "" on rows older than migration 4,
    # whose links were made without it (see bot.digest.tokens).
    Column("token_salt", String(32), nullable=False, default="", server_default=""),
    UniqueConstraint("channel", "email", name="uq_subscribers_channel_email"),
    # Tokens name subscribers by id: an id must never be given to anyone else, which plain
    # SQLite rowids do (a removed subscriber's id went to the next one added). Migration 4.
    sqlite_autoincrement=True,
)
Index("ix_subscribers_channel_status", subscribers.c.channel, subscribers.c.status)

digest_runs = Table(
    "digest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),
    Column("scheduled_for", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("article_count", Integer, nullable=False, default=0),
    Column("article_ids", Text, nullable=False, default="[]"),  # JSON list, in digest order
    # sending | sent | empty | failed
    Column("status", String(16), nullable=False),
    Column("sent_count", Integer, nullable=False, default=0),
    Column("error", Text, nullable=False, default=""),
    UniqueConstraint("channel", "scheduled_for", name="uq_digest_runs_channel_time"),
    sqlite_autoincrement=True,  # VERP tokens and resend-unknown name runs by id
)

digest_sends = Table(
    "digest_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("digest_runs.id"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    # sending | sent | bounced | failed | unknown
    Column("status", String(16), nullable=False),
    Column("message_id", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("run_id", "subscriber_id", name="uq_digest_sends_run_subscriber"),
)

# The public subscribe form sends a confirmation email on request, so anyone could aim it at
# a stranger's inbox. One row per subscriber (that is, per address and digest) says when the
# last one went out and how many went out in the current rolling day; it lives in the store
# so the limit holds across restarts and across workers. Added by migration 3.
confirmation_sends = Table(
    "confirmation_sends",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), primary_key=True),
    Column("last_sent_at", UTCDateTime, nullable=False),
    Column("day_started_at", UTCDateTime, nullable=False),  # the first send of the day counted
    Column("day_count", Integer, nullable=False),
)
