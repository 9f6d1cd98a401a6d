"""Numbered migrations, each run once, in a transaction, at start.

Append a new ``(number, function)`` to MIGRATIONS for every schema change; never edit one that
has shipped. Each function receives a Connection inside the migration's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select, text

from bot.store import schema


def _initial(conn: Connection) -> None:
    for table in (
        schema.sources,
        schema.articles,
        schema.deliveries,
        schema.channel_state,
        schema.leases,
    ):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _digest(conn: Connection) -> None:
    from bot.store import digest_schema

    for table in (digest_schema.subscribers, digest_schema.digest_runs,
                  digest_schema.digest_sends):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _confirmation_sends(conn: Connection) -> None:
    from bot.store import digest_schema

    # A table of its own rather than new columns on subscribers: migration 2 creates that
    # table from its current definition, so on a new store the columns would already be
    # there and an ALTER TABLE here would need to guess.
    digest_schema.confirmation_sends.create(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _initial),
    (2, _digest),
    (3, _confirmation_sends),
]


def migrate(engine: Engine) -> list[int]:
    """Apply every migration not yet applied; return the numbers applied now."""
    applied_now: list[int] = []
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Two workers starting together must not both run migration 1.
            conn.execute(text("SELECT pg_advisory_xact_lock(7164201)"))
        schema.schema_version.create(conn, checkfirst=True)
        done = set(conn.scalars(select(schema.schema_version.c.version)))
        for number, step in sorted(MIGRATIONS):
            if number in done:
                continue
            step(conn)
            conn.execute(
                schema.schema_version.insert().values(version=number, applied_at=datetime.now(UTC))
            )
            applied_now.append(number)
    return applied_now
