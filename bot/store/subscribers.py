"""Digest subscribers: who reads each digest, and their lifecycle (pending, active,
unsubscribed, bounced).

The email digest's store is four modules, each one concern, combined as ``DigestQueries``
(bot/store/digest_queries.py): subscribers here; confirmation emails' limits
(``confirmations.py``); digest runs, each an edition and the deliveries it carries
(``digest_runs.py``); one copy per reader of a run (``digest_sends.py``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.models import SUBSCRIBER_STATUSES
from bot.store.base import StoreBase, dialect_insert
from bot.store.digest_schema import confirmation_sends, digest_sends, subscribers

S = subscribers
DS = digest_sends
CS = confirmation_sends

_BATCH = 5_000


@dataclass(frozen=True)
class Subscriber:
    id: int
    channel: str
    email: str
    status: str
    hard_bounces: int = 0
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    token_salt: str = ""  # signed into its tokens (bot.digest.tokens); "" on pre-0.2 rows




def subscriber_of(row: Any) -> Subscriber:
    return Subscriber(id=row.id, channel=row.channel, email=row.email, status=row.status,
                      hard_bounces=row.hard_bounces, created_at=row.created_at,
                      confirmed_at=row.confirmed_at, unsubscribed_at=row.unsubscribed_at,
                      token_salt=row.token_salt)


class SubscriberQueries(StoreBase):
    def add_subscribers(self, channel: str, emails: Iterable[str], *, status: str,
                        now: datetime) -> int:
        """Insert addresses (already normalised) in batches; existing ones are left as they
        are. Returns how many were new."""
        if status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown subscriber status {status!r}")
        confirmed = now if status == "active" else None
        stmt = dialect_insert(self.dialect)(S).on_conflict_do_nothing(
            index_elements=["channel", "email"])
        count = select(func.count()).select_from(S).where(S.c.channel == channel)
        batch: list[dict[str, Any]] = []
        with self.transaction() as conn:
            before = int(conn.scalar(count) or 0)
            # One prepared statement, executemany in batches: compiling a multi-row VALUES
            # per batch costs more than the inserts themselves.
            for email in emails:
                batch.append({"channel": channel, "email": email, "status": status,
                              "hard_bounces": 0, "created_at": now, "confirmed_at": confirmed,
                              "updated_at": now, "token_salt": secrets.token_hex(8)})
                if len(batch) >= _BATCH:
                    conn.execute(stmt, batch)
                    batch = []
            if batch:
                conn.execute(stmt, batch)
            return int(conn.scalar(count) or 0) - before

    def unsubscribed_among(self, channel: str, emails: Sequence[str]) -> set[str]:
        """Which of ``emails`` (normalised) unsubscribed from ``channel``."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(emails), 500):
                chunk = list(emails[start:start + 500])
                found.update(conn.scalars(select(S.c.email).where(
                    S.c.channel == channel, S.c.status == "unsubscribed",
                    S.c.email.in_(chunk))))
        return found

    def subscribers_among(self, channel: str, emails: Sequence[str]) -> list[Subscriber]:
        """The stored subscribers of ``channel`` among ``emails`` (normalised), in id order
        within each chunk of 500."""
        found: list[Subscriber] = []
        with self.engine.connect() as conn:
            for start in range(0, len(emails), 500):
                chunk = list(emails[start:start + 500])
                found.extend(subscriber_of(row) for row in conn.execute(
                    select(S).where(S.c.channel == channel, S.c.email.in_(chunk))
                    .order_by(S.c.id)))
        return found

    def subscribe(self, channel: str, email: str, *, status: str, now: datetime) -> Subscriber:
        """Add ``email`` or, when it is known, set its status (an editor's `add`, a reader
        who comes back). Returns the row as stored."""
        self.add_subscribers(channel, [email], status=status, now=now)
        existing = self.get_subscriber(channel, email)
        assert existing is not None
        if existing.status != status:
            self.set_subscriber_status(existing.id, status, now=now)
            existing = self.get_subscriber(channel, email)
            assert existing is not None
        return existing

    def get_subscriber(self, channel: str, email: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(S).where(S.c.channel == channel, S.c.email == email)).first()
        return subscriber_of(row) if row else None

    def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(S).where(S.c.id == subscriber_id)).first()
        return subscriber_of(row) if row else None

    def set_subscriber_status(self, subscriber_id: int, status: str, *, now: datetime,
                              allowed_from: Sequence[str] | None = None) -> bool:
        """Change a subscriber's status (only from ``allowed_from`` when given)."""
        if status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown subscriber status {status!r}")
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status == "active":
            values.update(confirmed_at=now, hard_bounces=0, unsubscribed_at=None)
        elif status == "unsubscribed":
            values["unsubscribed_at"] = now
        cond = [S.c.id == subscriber_id]
        if allowed_from is not None:
            cond.append(S.c.status.in_(list(allowed_from)))
        with self.transaction() as conn:
            return bool(conn.execute(update(S).where(*cond).values(**values)).rowcount)

    def unsubscribe(self, subscriber_id: int, *, now: datetime) -> bool:
        """The reader leaves (web button, one-click POST, or mail): from active, pending or
        bounced. False when they had already left."""
        return self.set_subscriber_status(subscriber_id, "unsubscribed", now=now,
                                          allowed_from=("active", "pending", "bounced"))

    def remove_subscriber(self, channel: str, email: str) -> bool:
        """Forget an address entirely, with its send records."""
        with self.transaction() as conn:
            sid = conn.scalar(select(S.c.id).where(S.c.channel == channel, S.c.email == email))
            if sid is None:
                return False
            conn.execute(delete(DS).where(DS.c.subscriber_id == sid))
            conn.execute(delete(CS).where(CS.c.subscriber_id == sid))
            conn.execute(delete(S).where(S.c.id == sid))
        return True

    def iter_subscribers(self, channel: str | None = None, *, status: str | None = None
                         ) -> Iterator[Subscriber]:
        """Subscribers in id order, read in pages (an export of 100,000 stays small)."""
        last = 0
        while True:
            query = select(S).where(S.c.id > last).order_by(S.c.id).limit(_BATCH)
            if channel is not None:
                query = query.where(S.c.channel == channel)
            if status is not None:
                query = query.where(S.c.status == status)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            for row in rows:
                yield subscriber_of(row)
            last = rows[-1].id

    def count_subscribers(self, channel: str | None = None) -> dict[str, dict[str, int]]:
        """{channel: {status: count}}"""
        query = select(S.c.channel, S.c.status, func.count()).group_by(S.c.channel, S.c.status)
        if channel is not None:
            query = query.where(S.c.channel == channel)
        result: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for ch, status, count in conn.execute(query):
                result.setdefault(ch, {})[status] = int(count)
        return result

    def record_hard_bounce(self, subscriber_id: int, *, limit: int, now: datetime) -> bool:
        """Count a hard bounce; True when the address is now ``bounced``."""
        with self.transaction() as conn:
            conn.execute(update(S).where(S.c.id == subscriber_id).values(
                hard_bounces=S.c.hard_bounces + 1, updated_at=now))
            return bool(conn.execute(update(S).where(
                S.c.id == subscriber_id, S.c.hard_bounces >= limit, S.c.status == "active",
            ).values(status="bounced", updated_at=now)).rowcount)

    def reset_hard_bounces(self, subscriber_id: int, *, now: datetime) -> None:
        with self.transaction() as conn:
            conn.execute(update(S).where(S.c.id == subscriber_id, S.c.hard_bounces > 0)
                         .values(hard_bounces=0, updated_at=now))
