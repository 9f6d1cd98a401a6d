"""Digest subscribers, digest runs and per-recipient sends (the email digest's store).

The watermark of a digest is the outbox: every article routed to an email channel has a
pending delivery row, a run claims the ones it carries (``claimed_by = digest-run:ID``), and
marks them sent with the run as receipt when it completes. Nothing is guessed from the clock.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bot.models import SUBSCRIBER_STATUSES, DeliveryStatus
from bot.store import schema
from bot.store.base import StoreBase
from bot.store.digest_schema import confirmation_sends, digest_runs, digest_sends, subscribers
from bot.store.outbox import DIGEST_RUN_CLAIM
from bot.store.schema import UTCDateTime

S = subscribers
R = digest_runs
DS = digest_sends
CS = confirmation_sends
D = schema.deliveries

_BATCH = 5_000
_DAY = timedelta(days=1)


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


@dataclass(frozen=True)
class ConfirmationClaim:
    """The right to send one confirmation email, taken before it goes out. It remembers the
    count it replaced, so a send that fails can give the right back."""

    subscriber_id: int
    sent_at: datetime
    previous: tuple[datetime, datetime, int] | None  # last_sent_at, day_started_at, day_count


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(id=row.id, channel=row.channel, email=row.email, status=row.status,
                      hard_bounces=row.hard_bounces, created_at=row.created_at,
                      confirmed_at=row.confirmed_at, unsubscribed_at=row.unsubscribed_at,
                      token_salt=row.token_salt)


def _run(row: Any) -> DigestRun:
    return DigestRun(id=row.id, channel=row.channel, scheduled_for=row.scheduled_for,
                     started_at=row.started_at, finished_at=row.finished_at,
                     article_ids=tuple(json.loads(row.article_ids)), status=row.status,
                     sent_count=row.sent_count, error=row.error)


class SubscriberQueries(StoreBase):
    def _insert(self) -> Any:
        return postgresql.insert if self.dialect == "postgresql" else sqlite.insert

    # -- subscribers -----------------------------------------------------------

    def add_subscribers(self, channel: str, emails: Iterable[str], *, status: str,
                        now: datetime) -> int:
        """Insert addresses (already normalised) in batches; existing ones are left as they
        are. Returns how many were new."""
        if status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown subscriber status {status!r}")
        confirmed = now if status == "active" else None
        stmt = self._insert()(S).on_conflict_do_nothing(index_elements=["channel", "email"])
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
        return _subscriber(row) if row else None

    def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(S).where(S.c.id == subscriber_id)).first()
        return _subscriber(row) if row else None

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
                yield _subscriber(row)
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

    # -- confirmation emails -----------------------------------------------------

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

    # -- digest runs -----------------------------------------------------------

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

    # -- per-recipient sends -----------------------------------------------------

    def send_states(self, run_id: int) -> dict[int, str]:
        """{subscriber id: send status} for a run."""
        with self.engine.connect() as conn:
            return {int(r[0]): str(r[1]) for r in conn.execute(
                select(DS.c.subscriber_id, DS.c.status).where(DS.c.run_id == run_id))}

    # The two writes around every copy use statements built once per store: building and
    # cache-keying a fresh statement cost more than SQLite's commit.

    def _send_statements(self) -> tuple[Any, Any, Any, Any]:
        cached: tuple[Any, Any, Any, Any] | None = getattr(self, "_send_stmts", None)
        if cached is None:
            _when = bindparam("t", type_=UTCDateTime())
            insert = self._insert()(DS).values(
                run_id=bindparam("r"), subscriber_id=bindparam("s"), status="sending",
                message_id=bindparam("m"), error="", attempts=1, updated_at=_when,
            ).on_conflict_do_nothing(index_elements=["run_id", "subscriber_id"])
            retake = update(DS).where(
                DS.c.run_id == bindparam("r"), DS.c.subscriber_id == bindparam("s"),
                DS.c.status == "deferred").values(status="sending", updated_at=_when)
            # resend-unknown: a copy that ended unknown, which the operator says did not arrive
            retake_unknown = update(DS).where(
                DS.c.run_id == bindparam("r"), DS.c.subscriber_id == bindparam("s"),
                DS.c.status.in_(("deferred", "unknown"))).values(status="sending",
                                                                 updated_at=_when)
            finish = update(DS).where(
                DS.c.run_id == bindparam("r"), DS.c.subscriber_id == bindparam("s"),
            ).values(status=bindparam("st"), error=bindparam("e"), updated_at=_when,
                     attempts=bindparam("a"))
            cached = (insert, retake, finish, retake_unknown)
            self._send_stmts = cached
        return cached

    def claim_send(self, run_id: int, subscriber_id: int, message_id: str, *,
                   now: datetime, retake_unknown: bool = False) -> bool:
        """Record that this recipient's copy is about to go out. True when the caller now
        holds it: no record existed, or the last attempt was refused ("deferred", so
        certainly not delivered), or, with ``retake_unknown`` (the operator checked the
        relay's log), it ended "unknown". False otherwise: the copy may be out already."""
        insert, retake, _, again = self._send_statements()
        if retake_unknown:
            retake = again
        with self.transaction() as conn:
            if conn.execute(insert, {"r": run_id, "s": subscriber_id, "m": message_id,
                                     "t": now}).rowcount:
                return True
            return bool(conn.execute(retake, {"r": run_id, "s": subscriber_id,
                                              "t": now}).rowcount)

    def finish_send(self, run_id: int, subscriber_id: int, status: str, *, now: datetime,
                    error: str = "", attempts: int = 1) -> None:
        _, _, finish, _ = self._send_statements()
        with self.transaction() as conn:
            conn.execute(finish, {"r": run_id, "s": subscriber_id, "st": status, "e": error,
                                  "t": now, "a": attempts})

    def mark_send_bounced(self, run_id: int, subscriber_id: int, *, now: datetime,
                          error: str) -> bool:
        """A copy the relay accepted came back as a hard bounce. True the first time (the
        caller counts it); False for a copy not sent, or already bounced (a DSN delivered
        twice must not count twice)."""
        with self.transaction() as conn:
            return bool(conn.execute(update(DS).where(
                DS.c.run_id == run_id, DS.c.subscriber_id == subscriber_id,
                DS.c.status.in_(("sent", "unknown")),
            ).values(status="bounced", error=error[:500], updated_at=now)).rowcount)

    def settle_interrupted_sends(self, run_id: int, *, now: datetime) -> int:
        """Sends left "sending" by a worker that died: the message may be out, so they
        become "unknown" and are not sent again. Returns how many."""
        with self.transaction() as conn:
            return int(conn.execute(update(DS).where(
                DS.c.run_id == run_id, DS.c.status == "sending",
            ).values(status="unknown", updated_at=now,
                     error="the worker stopped while this copy was being sent")).rowcount or 0)

    def unknown_sends(self, run_id: int) -> list[tuple[Subscriber, str]]:
        """The readers whose copy of ``run_id`` ended "unknown" (it was being sent when a
        worker stopped), with the copy's Message-ID, in subscriber order."""
        query = (select(S, DS.c.message_id).join(DS, DS.c.subscriber_id == S.c.id)
                 .where(DS.c.run_id == run_id, DS.c.status == "unknown").order_by(S.c.id))
        with self.engine.connect() as conn:
            return [(_subscriber(row), str(row.message_id)) for row in conn.execute(query)]

    def settle_unknown_sends(self, run_id: int, subscriber_ids: Iterable[int], *,
                             now: datetime, note: str) -> int:
        """Record copies that ended "unknown" as sent, on the operator's word (the relay's log
        shows it accepted them), so that no later resend sends them again. Returns how many."""
        ids = list(subscriber_ids)
        if not ids:
            return 0
        with self.transaction() as conn:
            return int(conn.execute(update(DS).where(
                DS.c.run_id == run_id, DS.c.subscriber_id.in_(ids), DS.c.status == "unknown",
            ).values(status="sent", error=note[:500], updated_at=now)).rowcount or 0)

    def recount_digest_run(self, run_id: int) -> int:
        """Set the run's sent_count from its copies (after resend-unknown); returns it."""
        with self.transaction() as conn:
            sent = int(conn.scalar(select(func.count()).select_from(DS).where(
                DS.c.run_id == run_id, DS.c.status == "sent")) or 0)
            conn.execute(update(R).where(R.c.id == run_id).values(sent_count=sent))
        return sent

    def send_counts(self, run_id: int) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {str(s): int(c) for s, c in conn.execute(
                select(DS.c.status, func.count()).where(DS.c.run_id == run_id)
                .group_by(DS.c.status))}
