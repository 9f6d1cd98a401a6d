"""Digest runs: one per edition of a digest channel, and the deliveries it carries.

The watermark of a digest is the outbox: every article routed to an email channel has a
pending delivery row, a run claims the ones it carries (``claimed_by = digest-run:ID``), and
marks them sent with the run as receipt when it completes. Nothing is guessed from the clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.models import DeliveryStatus
from bot.store import schema
from bot.store.base import StoreBase
from bot.store.digest_schema import digest_runs, digest_sends
from bot.store.outbox import DIGEST_RUN_CLAIM

R = digest_runs
DS = digest_sends
D = schema.deliveries

@dataclass(frozen=True)
class DigestRun:
    id: int
    channel: str
    scheduled_for: datetime
    started_at: datetime
    finished_at: datetime | None
    article_ids: tuple[int, ...]
    status: str  # sending | sent | empty | failed
    sent_count: int = 0
    error: str = ""

    @property
    def receipt(self) -> str:
        """What the carried deliveries record as their receipt."""
        return f"{DIGEST_RUN_CLAIM}{self.id}"


def _run(row: Any) -> DigestRun:
    return DigestRun(id=row.id, channel=row.channel, scheduled_for=row.scheduled_for,
                     started_at=row.started_at, finished_at=row.finished_at,
                     article_ids=tuple(json.loads(row.article_ids)), status=row.status,
                     sent_count=row.sent_count, error=row.error)


class DigestRunQueries(StoreBase):
    def pending_digest_deliveries(self, channel: str, now: datetime) -> list[tuple[int, int]]:
        """(delivery id, article id) of the channel's pending deliveries due by ``now``,
        newest article first: what the next digest would carry."""
        A = schema.articles
        query = (select(D.c.id, D.c.article_id).join(A, A.c.id == D.c.article_id)
                 .where(D.c.channel == channel, D.c.status == DeliveryStatus.PENDING.value,
                        D.c.due_at <= now)
                 .order_by(A.c.published_at.desc(), A.c.id.desc()))
        with self.engine.connect() as conn:
            return [(int(r[0]), int(r[1])) for r in conn.execute(query)]

    def start_digest_run(self, channel: str, *, scheduled_for: datetime, now: datetime,
                         max_articles: int) -> DigestRun | None:
        """Create the run for ``scheduled_for`` and claim the deliveries it carries (newest
        ``max_articles``; older ones beyond the cap are marked skipped with a note, so the
        next digest does not open with yesterday's news). Returns None when a run for that
        time already exists (another worker, or it was already sent)."""
        with self.transaction() as conn:
            if conn.scalar(select(R.c.id).where(R.c.channel == channel,
                                                R.c.scheduled_for == scheduled_for)):
                return None
            A = schema.articles
            rows = conn.execute(
                select(D.c.id, D.c.article_id).join(A, A.c.id == D.c.article_id)
                .where(D.c.channel == channel, D.c.status == DeliveryStatus.PENDING.value,
                       D.c.due_at <= now)
                .order_by(A.c.published_at.desc(), A.c.id.desc())).all()
            chosen, over = rows[:max_articles], rows[max_articles:]
            try:
                run_id = conn.execute(R.insert().values(
                    channel=channel, scheduled_for=scheduled_for, started_at=now,
                    article_count=len(chosen),
                    article_ids=json.dumps([int(r.article_id) for r in chosen]),
                    status="sending" if chosen else "empty",
                    finished_at=None if chosen else now, sent_count=0, error="",
                )).inserted_primary_key
            except IntegrityError:  # pragma: no cover - raced by another worker
                return None
            assert run_id is not None
            rid = int(run_id[0])
            if chosen:
                conn.execute(update(D).where(D.c.id.in_([r.id for r in chosen])).values(
                    status=DeliveryStatus.CLAIMED.value, claimed_by=f"{DIGEST_RUN_CLAIM}{rid}",
                    claimed_until=None, updated_at=now, attempts=D.c.attempts + 1))
            if over:
                conn.execute(update(D).where(D.c.id.in_([r.id for r in over])).values(
                    status=DeliveryStatus.SKIPPED.value, updated_at=now,
                    note=f"over max_articles ({max_articles}) in digest run {rid}"))
            row = conn.execute(select(R).where(R.c.id == rid)).one()
        return _run(row)

    def reclaim_digest_articles(self, run: DigestRun, *, now: datetime) -> int:
        """Take back for ``run`` those of its own articles that are pending again, so that
        the resumed run marks exactly its articles sent when it finishes and the next
        edition does not carry them a second time. (Before 0.2.0, start-up recovery handed a
        crashed run's claims back.) Rows sent, skipped or held by anyone else are left as
        they are. Returns how many were taken back."""
        if not run.article_ids:
            return 0
        with self.transaction() as conn:
            return int(conn.execute(update(D).where(
                D.c.channel == run.channel, D.c.article_id.in_(list(run.article_ids)),
                D.c.status == DeliveryStatus.PENDING.value,
            ).values(status=DeliveryStatus.CLAIMED.value, claimed_by=run.receipt,
                     claimed_until=None, updated_at=now)).rowcount or 0)

    def get_digest_run(self, run_id: int) -> DigestRun | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(R).where(R.c.id == run_id)).first()
        return _run(row) if row else None

    def find_digest_run(self, channel: str, scheduled_for: datetime) -> DigestRun | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(R).where(R.c.channel == channel,
                                               R.c.scheduled_for == scheduled_for)).first()
        return _run(row) if row else None

    def digest_runs(self, channel: str, *, status: str | None = None,
                    limit: int = 20) -> list[DigestRun]:
        """The channel's runs, newest first."""
        query = select(R).where(R.c.channel == channel).order_by(R.c.scheduled_for.desc())
        if status is not None:
            query = query.where(R.c.status == status)
        with self.engine.connect() as conn:
            return [_run(r) for r in conn.execute(query.limit(limit))]

    def finish_digest_run(self, run: DigestRun, *, status: str, now: datetime,
                          error: str = "") -> None:
        """Close a run. When it was sent, its deliveries become sent with the run as receipt;
        when it failed (abandoned), they go back to pending for the next digest."""
        with self.transaction() as conn:
            sent = conn.scalar(select(func.count()).select_from(DS).where(
                DS.c.run_id == run.id, DS.c.status == "sent")) or 0
            conn.execute(update(R).where(R.c.id == run.id).values(
                status=status, finished_at=now, sent_count=int(sent), error=error))
            carried = (D.c.channel == run.channel) & (D.c.claimed_by == run.receipt)
            if status == "sent":
                conn.execute(update(D).where(carried).values(
                    status=DeliveryStatus.SENT.value, sent_at=now, updated_at=now,
                    receipt_id=run.receipt, claimed_by="", last_error=""))
            else:
                conn.execute(update(D).where(carried).values(
                    status=DeliveryStatus.PENDING.value, updated_at=now, claimed_by="",
                    last_error=error))

    def recount_digest_run(self, run_id: int) -> int:
        """Set the run's sent_count from its copies (after resend-unknown); returns it."""
        with self.transaction() as conn:
            sent = int(conn.scalar(select(func.count()).select_from(DS).where(
                DS.c.run_id == run_id, DS.c.status == "sent")) or 0)
            conn.execute(update(R).where(R.c.id == run_id).values(sent_count=sent))
        return sent
