"""Corrections: when the feed changes a posted article's title or summary, each channel that
carried it gets an outbox row for the edit (revision 1, 2, …), in the poll's transaction.

An edit is claimed, paced, retried and recorded like any post. What a channel does with it
is the caller's decision (``CorrectionPolicy.decide``): a platform that edits in place gets a
pending row; one that cannot gets a skipped row saying so, so history tells the editors; the
digest's row carries the article into its next edition, marked "Updated".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from bot.models import DeliveryStatus, NewDelivery
from bot.store.poll_sql import (
    datetime_binder,
    id_chunks,
    insert_deliveries,
    mark_corrected_sql,
    post_history_sql,
)
from bot.store.records import CorrectionPolicy
from bot.store.utc import aware_utc

if TYPE_CHECKING:
    from bot.store.driver import Executor

#: A correction still waiting: a newer change rides on it (it renders the article as it is
#: when sent), so no second row is added.
_WAITING = {DeliveryStatus.PENDING.value, DeliveryStatus.AWAITING.value,
            DeliveryStatus.HELD.value, DeliveryStatus.CLAIMED.value,
            DeliveryStatus.SENDING.value}


def insert_corrections(ex: Executor, article_ids: Iterable[int], *, now: datetime,
                       policy: CorrectionPolicy) -> int:
    """Plan the edits of the posts of ``article_ids`` whose feed entry just changed, in the
    caller's transaction; mark those articles corrected. Returns how many rows were added."""
    ids = sorted(set(article_ids))
    if not ids or policy.window <= timedelta(0):
        return 0
    # The driver's own SQL (bot/store/poll_sql.py), so the light store runs this too.
    postgres = ex.dialect == "postgresql"
    by_post: dict[tuple[int, str], list[_Delivery]] = {}
    for chunk in id_chunks(ids):
        for row in ex.rows(post_history_sql(postgres, len(chunk)), chunk):
            delivery = _Delivery.read(row)
            by_post.setdefault((delivery.article_id, delivery.channel), []).append(delivery)
    plans: list[tuple[int, NewDelivery]] = []
    corrected: set[int] = set()
    for (article_id, channel), history in by_post.items():
        post = next((r for r in history if r.revision == 0), None)
        if (post is None or post.status != DeliveryStatus.SENT.value or post.sent_at is None
                or now - post.sent_at > policy.window):
            continue
        if any(r.edit_of and r.status in _WAITING for r in history):
            corrected.add(article_id)
            continue
        decision = policy.decide(channel)
        if decision is None:
            continue
        status, note = decision
        revision = max(r.revision for r in history) + 1
        edit_of = post.receipt_id or f"#{post.id}"
        plans.append((article_id, NewDelivery(channel=channel, due_at=now, status=status,
                                              note=note, revision=revision, edit_of=edit_of)))
        corrected.add(article_id)
    bound_now = datetime_binder(ex.dialect)(now)
    for chunk in id_chunks(sorted(corrected)):
        ex.execute(mark_corrected_sql(postgres, len(chunk)), (bound_now, *chunk))
    return insert_deliveries(ex, plans, now)


class _Delivery(NamedTuple):
    """A row of ``post_history_sql`` (poll_sql.POST_HISTORY_COLUMNS)."""

    id: int
    article_id: int
    channel: str
    status: str
    revision: int
    receipt_id: str
    sent_at: datetime | None  # aware UTC, as the column type reads it
    edit_of: str

    @classmethod
    def read(cls, row: Sequence[Any]) -> _Delivery:
        (delivery_id, article_id, channel, status, revision, receipt_id, sent_at,
         edit_of) = row
        return cls(delivery_id, article_id, channel, status, revision, receipt_id,
                   aware_utc(sent_at), edit_of)
