"""One copy of a digest run per reader: claimed before it goes out, finished after, so a
crash never sends a reader the same edition twice (a copy left "sending" becomes "unknown").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from bot.store.base import StoreBase, dialect_insert
from bot.store.digest_schema import digest_sends, subscribers
from bot.store.schema import UTCDateTime
from bot.store.subscribers import Subscriber, subscriber_of

S = subscribers
DS = digest_sends


class DigestSendQueries(StoreBase):
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
            insert = dialect_insert(self.dialect)(DS).values(
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
            return [(subscriber_of(row), str(row.message_id)) for row in conn.execute(query)]

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


    def send_counts(self, run_id: int) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {str(s): int(c) for s, c in conn.execute(
                select(DS.c.status, func.count()).where(DS.c.run_id == run_id)
                .group_by(DS.c.status))}
