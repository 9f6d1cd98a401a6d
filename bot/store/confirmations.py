"""Confirmation emails' limits: one per address and digest per cooldown, so many a day.

The right to send is taken in the store before the email goes out (under a lock on the
subscriber's row), so it holds across restarts and workers; a send the relay refuses gives
it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from bot.store.base import StoreBase
from bot.store.digest_schema import confirmation_sends, subscribers

S = subscribers
CS = confirmation_sends

_DAY = timedelta(days=1)

@dataclass(frozen=True)
class ConfirmationClaim:
    """The right to send one confirmation email, taken before it goes out. It remembers the
    count it replaced, so a send that fails can give the right back."""

    subscriber_id: int
    sent_at: datetime
    previous: tuple[datetime, datetime, int] | None  # last_sent_at, day_started_at, day_count



class ConfirmationQueries(StoreBase):
    def claim_confirmation(self, subscriber_id: int, *, now: datetime, cooldown: timedelta,
                           per_day: int) -> ConfirmationClaim | None:
        """Take the right to send this subscriber a confirmation email now, or None when one
        went out less than ``cooldown`` ago or ``per_day`` went out in the last 24 hours.

        The right is recorded before the email is sent, under a lock on the subscriber's row,
        so two workers answering the same form at once cannot both send; a send that fails
        calls ``release_confirmation`` so the reader can simply try again."""
        with self.transaction() as conn:
            # SQLite: the transaction already holds the write lock. PostgreSQL: lock the row.
            if conn.scalar(select(S.c.id).where(S.c.id == subscriber_id)
                           .with_for_update()) is None:
                return None
            row = conn.execute(select(CS).where(CS.c.subscriber_id == subscriber_id)).first()
            if row is None:
                conn.execute(CS.insert().values(subscriber_id=subscriber_id, last_sent_at=now,
                                                day_started_at=now, day_count=1))
                return ConfirmationClaim(subscriber_id, now, None)
            if now - row.last_sent_at < cooldown:
                return None
            new_day = now - row.day_started_at >= _DAY
            if not new_day and row.day_count >= per_day:
                return None
            conn.execute(update(CS).where(CS.c.subscriber_id == subscriber_id).values(
                last_sent_at=now, day_started_at=now if new_day else row.day_started_at,
                day_count=1 if new_day else row.day_count + 1))
            return ConfirmationClaim(subscriber_id, now,
                                     (row.last_sent_at, row.day_started_at, row.day_count))

    def release_confirmation(self, claim: ConfirmationClaim) -> None:
        """Give back a claim whose email was not sent: the count is as it was before."""
        mine = (CS.c.subscriber_id == claim.subscriber_id) & (CS.c.last_sent_at == claim.sent_at)
        with self.transaction() as conn:
            if claim.previous is None:
                conn.execute(delete(CS).where(mine))
            else:
                last, day, count = claim.previous
                conn.execute(update(CS).where(mine).values(
                    last_sent_at=last, day_started_at=day, day_count=count))
