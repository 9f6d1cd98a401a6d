"""Tables for the editors' desk (migration 5): accounts, what they did, failed logins, the
control chat's messages and small named values (the chat's getUpdates offset, open alerts).

The deliveries table gains ``edited_text`` (an editor's text, used instead of the template);
a post waiting for approval is a delivery whose status is ``awaiting``.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint

from bot.store.schema import UTCDateTime, metadata

editors = Table(
    "editors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string
    Column("role", String(16), nullable=False),  # editor | admin
    # Part of every session cookie: bumped by logout and password change, which ends every
    # session of the account at once, on every worker.
    Column("session_version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", name="uq_editors_name"),
)

desk_actions = Table(
    "desk_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("editor", String(200), nullable=False),  # "alice" or "telegram:12345 (Alice)"
    Column("action", String(32), nullable=False),
    Column("delivery_id", Integer),
    Column("channel", String(200), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
)
Index("ix_desk_actions_at", desk_actions.c.at)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),  # "account:alice" or "client:203.0.113.0"
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_login_failures_key_at", login_failures.c.key, login_failures.c.at)

desk_messages = Table(
    "desk_messages",
    metadata,
    # One control-chat message per delivery that needs approval: posted once, then edited
    # to say who did what.
    Column("delivery_id", Integer, primary_key=True, autoincrement=False),
    Column("chat", String(200), nullable=False),
    Column("message_id", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed", Integer, nullable=False, default=0),
)

desk_values = Table(
    "desk_values",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("value", Text, nullable=False, default=""),
    Column("updated_at", UTCDateTime, nullable=False),
)
