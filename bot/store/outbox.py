"""The deliveries outbox: nothing is sent that is not first a row here.

A row moves pending → claimed → sending → sent | failed | unknown. "claimed" means a worker
holds it but has sent nothing; "sending" is set just before the request goes out. So when a
worker dies, an expired claim is safely returned to pending, while an expired "sending" row
becomes unknown: the request may have reached the platform, and a person decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from bot.models import ChannelHistory, Delivery, DeliveryStatus, NewDelivery, Receipt
from bot.store import schema
from bot.store.base import StoreBase, dialect_insert
from bot.store.driver import AlchemyExecutor, run
from bot.store.poll_sql import (
    dispatch_work_params,
    dispatch_work_sql,
    insert_deliveries,
)
from bot.store.queue_sql import history_params, history_sql, read_history
from bot.store.status_sql import (
    COUNTS_BY_STATUS_SQL,
    DELIVERY_READ_COLUMNS,
    deliveries_in_sql,
    read_counts_by_status,
    read_delivery,
    read_spend,
    spend_since_params,
    spend_since_sql,
)

D = schema.deliveries
#: ``claimed_by`` of the deliveries a digest run carries: ``digest-run:<run id>``. Those claims
#: belong to the run until it finishes (it resumes itself after a crash), so no recovery of
#: a dead worker's claims ever hands them back.
DIGEST_RUN_CLAIM = "digest-run:"
_NOT_A_DIGEST_RUN = D.c.claimed_by.not_like(f"{DIGEST_RUN_CLAIM}%")


def row_to_delivery(row: Any) -> Delivery:
    """A Delivery from a row of ``select(D)``, read as the driver SQL's are."""
    values = row._mapping
    return read_delivery([values[column] for column in DELIVERY_READ_COLUMNS])


#: Chooses which of a channel's due candidates may go now: (history, candidates, now) → ids.
Picker = Callable[[ChannelHistory, Sequence[Delivery], datetime], Sequence[int]]


class OutboxQueries(StoreBase):
    def create_deliveries(self, article_id: int, plans: Iterable[NewDelivery], *,
                          now: datetime) -> int:
        """Insert one row per plan; a row that exists (same article and channel) is kept
        as it is. Returns how many rows were new."""
        return self.create_many_deliveries([(article_id, p) for p in plans], now=now)

    def create_many_deliveries(self, plans: Iterable[tuple[int, NewDelivery]], *,
                               now: datetime) -> int:
        """The batch form of create_deliveries: (article id, plan) pairs, one transaction."""
        with self.transaction() as conn:
            return insert_deliveries(AlchemyExecutor(conn), plans, now)

    # -- claiming --------------------------------------------------------------

    def history(self, conn: Connection, channel: str, now: datetime) -> ChannelHistory:
        # The driver's own SQL, shared with the light store (bot/store/queue_sql.py).
        sent, flying, maybe = (
            run(conn, sql, params).all() for sql, params in
            zip(history_sql(self.dialect == "postgresql"),
                history_params(self.dialect, channel, now), strict=True))
        return read_history(channel, sent, flying, maybe)

    def channel_history(self, channel: str, now: datetime) -> ChannelHistory:
        """``history`` in a connection of its own, for readers (plan, --dry-run)."""
        with self.engine.connect() as conn:
            return self.history(conn, channel, now)

    def claim(self, channel: str, *, now: datetime, worker: str, lease: timedelta,
              pick: Picker, limit: int = 50) -> list[Delivery]:
        """Claim the deliveries of ``channel`` that ``pick`` says may go now.

        Runs in one transaction holding the channel's lock (its channel_state row on
        PostgreSQL, the write lock on SQLite), so two workers never both take the last slot
        under a gap or a daily cap.
        """
        self.ensure_channel_row(channel, now)
        with self.transaction() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(schema.channel_state.c.channel)
                             .where(schema.channel_state.c.channel == channel).with_for_update())
            query = (select(D).where(D.c.channel == channel,
                                     D.c.status == DeliveryStatus.PENDING.value,
                                     D.c.due_at <= now)
                     .order_by(D.c.priority.desc(), D.c.due_at, D.c.id).limit(limit))
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            candidates = [row_to_delivery(r) for r in conn.execute(query)]
            if not candidates:
                return []
            chosen = list(pick(self.history(conn, channel, now), candidates, now))
            if not chosen:
                return []
            conn.execute(update(D).where(D.c.id.in_(chosen)).values(
                status=DeliveryStatus.CLAIMED.value, claimed_by=worker,
                claimed_until=now + lease, updated_at=now, attempts=D.c.attempts + 1))
            rows = conn.execute(select(D).where(D.c.id.in_(chosen))).all()
        by_id = {r.id: row_to_delivery(r) for r in rows}
        return [by_id[i] for i in chosen if i in by_id]

    def ensure_channel_row(self, channel: str, now: datetime) -> None:
        with self.transaction() as conn:
            conn.execute(dialect_insert(self.dialect)(schema.channel_state).values(
                channel=channel, paused=False, attention="", chat_override="", updated_at=now,
            ).on_conflict_do_nothing(index_elements=["channel"]))

    def has_dispatch_work(self, channels: Sequence[str], now: datetime) -> bool:
        """Whether a dispatch pass over ``channels`` at ``now`` could do anything: a pending
        delivery of theirs is due, or some claim or send has outlived its lease. False means
        a pass would claim, recover and send nothing (a quiet `newsbot once` skips it)."""
        # The driver's own SQL, shared with the light store (bot/store/light.py).
        with self.engine.connect() as conn:
            found = run(conn, dispatch_work_sql(self.dialect == "postgresql", len(channels)),
                        dispatch_work_params(self.dialect, channels, now)).first()
        return found is not None

    def recover_expired(self, now: datetime) -> tuple[int, int]:
        """Return expired claims to pending; mark expired sends unknown. (released, unknown)"""
        with self.transaction() as conn:
            released = conn.execute(update(D).where(
                D.c.status == DeliveryStatus.CLAIMED.value, D.c.claimed_until < now,
                _NOT_A_DIGEST_RUN,
            ).values(status=DeliveryStatus.PENDING.value, claimed_by="", updated_at=now,
                     attempts=D.c.attempts - 1)).rowcount
            unknown = conn.execute(update(D).where(
                D.c.status == DeliveryStatus.SENDING.value, D.c.claimed_until < now,
                _NOT_A_DIGEST_RUN,
            ).values(status=DeliveryStatus.UNKNOWN.value, claimed_by="", updated_at=now,
                     last_error="the worker stopped while this post was being sent; check the "
                                "channel, then `newsbot retry ID` if it is not there")).rowcount
        return int(released or 0), int(unknown or 0)

    # -- outcomes --------------------------------------------------------------

    def _set(self, delivery_id: int, worker: str | None, **values: Any) -> bool:
        cond = [D.c.id == delivery_id]
        if worker is not None:
            cond.append(D.c.claimed_by == worker)  # a stale worker must not overwrite
        with self.transaction() as conn:
            return bool(conn.execute(update(D).where(and_(*cond)).values(**values)).rowcount)

    def mark_sending(self, delivery_id: int, *, worker: str, now: datetime,
                     lease: timedelta | None = None) -> bool:
        """Claimed → sending, only while ``worker`` still holds the claim. False means the
        claim expired and the row may be someone else's now: the caller must not send."""
        values: dict[str, Any] = {"status": DeliveryStatus.SENDING.value, "updated_at": now}
        if lease is not None:
            values["claimed_until"] = now + lease
        with self.transaction() as conn:
            return bool(conn.execute(update(D).where(
                D.c.id == delivery_id, D.c.claimed_by == worker,
                D.c.status == DeliveryStatus.CLAIMED.value).values(**values)).rowcount)

    def release_claims(self, worker: str | None, *, now: datetime) -> tuple[int, int]:
        """Hand back what ``worker`` (None: any worker, e.g. a SQLite store whose run lock
        proves every other process dead) holds: claimed rows return to pending, rows it was
        sending become unknown. Returns (released, unknown).

        A digest run's claims are never handed back here: released, the run's articles would
        be pending again and the next edition would carry them a second time to every
        reader. The run resumes itself (bot.digest.commands.run_digest)."""
        mine = [_NOT_A_DIGEST_RUN] if worker is None else [D.c.claimed_by == worker,
                                                            _NOT_A_DIGEST_RUN]
        with self.transaction() as conn:
            released = conn.execute(update(D).where(
                D.c.status == DeliveryStatus.CLAIMED.value, *mine,
            ).values(status=DeliveryStatus.PENDING.value, claimed_by="", updated_at=now,
                     attempts=D.c.attempts - 1)).rowcount
            unknown = conn.execute(update(D).where(
                D.c.status == DeliveryStatus.SENDING.value, *mine,
            ).values(status=DeliveryStatus.UNKNOWN.value, claimed_by="", updated_at=now,
                     last_error="the worker stopped while this post was being sent; check the "
                                "channel, then `newsbot retry ID` if it is not there")).rowcount
        return int(released or 0), int(unknown or 0)

    def mark_sent(self, delivery_id: int, receipt: Receipt, *, now: datetime,
                  cost: float = 0.0, worker: str | None = None) -> bool:
        return self._set(delivery_id, worker, status=DeliveryStatus.SENT.value, sent_at=now,
                         updated_at=now, receipt_id=receipt.platform_id,
                         receipt_url=receipt.url, note=receipt.note, cost=cost, claimed_by="",
                         last_error="")

    def mark_retry(self, delivery_id: int, error: str, *, due_at: datetime, now: datetime,
                   worker: str | None = None) -> bool:
        return self._set(delivery_id, worker, status=DeliveryStatus.PENDING.value,
                         due_at=due_at, last_error=error, updated_at=now, claimed_by="")

    def release(self, delivery_id: int, *, now: datetime, worker: str | None = None,
                note: str | None = None, due_at: datetime | None = None) -> bool:
        """Hand a claimed row back untouched (shutdown, a paused channel), or due later
        (a thread over the month's budget); the attempt is not counted."""
        values: dict[str, Any] = {"status": DeliveryStatus.PENDING.value, "claimed_by": "",
                                  "updated_at": now, "attempts": D.c.attempts - 1}
        if note is not None:
            values["note"] = note
        if due_at is not None:
            values["due_at"] = due_at
        return self._set(delivery_id, worker, **values)

    def mark_failed(self, delivery_id: int, error: str, *, now: datetime,
                    worker: str | None = None, note: str = "") -> bool:
        return self._set(delivery_id, worker, status=DeliveryStatus.FAILED.value,
                         last_error=error, updated_at=now, claimed_by="", note=note)

    def mark_unknown(self, delivery_id: int, error: str, *, now: datetime,
                     worker: str | None = None) -> bool:
        return self._set(delivery_id, worker, status=DeliveryStatus.UNKNOWN.value,
                         last_error=error, updated_at=now, claimed_by="")

    def set_status(self, delivery_id: int, status: DeliveryStatus, *, now: datetime,
                   allowed_from: Iterable[DeliveryStatus], **values: Any) -> bool:
        """An editor's action: change status only from the given states."""
        with self.transaction() as conn:
            return bool(conn.execute(update(D).where(
                D.c.id == delivery_id, D.c.status.in_([s.value for s in allowed_from]),
            ).values(status=status.value, updated_at=now, **values)).rowcount)

    # -- reading ---------------------------------------------------------------

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(D).where(D.c.id == delivery_id)).first()
        return row_to_delivery(row) if row else None

    def deliveries(self, *, statuses: Iterable[DeliveryStatus] | None = None,
                   channel: str | None = None, limit: int | None = None,
                   newest_first: bool = False, since: datetime | None = None
                   ) -> list[Delivery]:
        """Outbox rows; ``since``: only those sent (or last changed) at or after it."""
        if statuses is not None and not limit and not newest_first and since is None:
            # What `newsbot status` (its unknown outcomes), `queue` and `plan` ask: the
            # driver's own SQL, shared with the light store (bot/store/status_sql.py).
            values = tuple(s.value for s in statuses)
            if not values:
                return []
            with self.engine.connect() as conn:
                sql = deliveries_in_sql(conn.dialect.name == "postgresql", len(values),
                                        channel is not None)
                params = values if channel is None else (*values, channel)
                return [read_delivery(row) for row in run(conn, sql, params)]
        query = select(D)
        if statuses is not None:
            query = query.where(D.c.status.in_([s.value for s in statuses]))
        if channel is not None:
            query = query.where(D.c.channel == channel)
        if since is not None:
            query = query.where(func.coalesce(D.c.sent_at, D.c.updated_at) >= since)
        if newest_first:
            query = query.order_by(func.coalesce(D.c.sent_at, D.c.updated_at).desc(), D.c.id.desc())
        else:
            query = query.order_by(D.c.channel, D.c.priority.desc(), D.c.due_at, D.c.id)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [row_to_delivery(r) for r in conn.execute(query)]

    def counts_by_status(self) -> dict[str, dict[str, int]]:
        """{channel: {status: count}}"""
        # The driver's own SQL, shared with the light store (bot/store/status_sql.py).
        with self.engine.connect() as conn:
            return read_counts_by_status(run(conn, COUNTS_BY_STATUS_SQL, ()))

    def spend_since(self, channel: str, since: datetime) -> tuple[int, float]:
        """(posts, summed cost) sent on ``channel`` since ``since``."""
        # The driver's own SQL, shared with the light store (bot/store/status_sql.py).
        with self.engine.connect() as conn:
            dialect = conn.dialect.name
            row = run(conn, spend_since_sql(dialect == "postgresql"),
                      spend_since_params(dialect, channel, since)).one()
        return read_spend(row)
