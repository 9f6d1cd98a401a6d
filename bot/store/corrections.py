"""Corrections: when the feed changes a posted article's title or summary, each channel that
carried it gets an outbox row for the edit (revision 1, 2, …), in the poll's transaction.

An edit is claimed, paced, retried and recorded like any post. What a channel does with it
is the caller's decision (``CorrectionPolicy.decide``): a platform that edits in place gets a
pending row; one that cannot gets a skipped row saying so, so history tells the editors; the
digest's row carries the article into its next edition, marked "Updated".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from bot.models import DeliveryStatus, NewDelivery
from bot.store import schema
from bot.store.outbox import insert_deliveries
from bot.store.records import CorrectionPolicy

D = schema.deliveries
#: A correction still waiting: a newer change rides on it (it renders the article as it is
#: when sent), so no second row is added.
_WAITING = {DeliveryStatus.PENDING.value, DeliveryStatus.AWAITING.value,
            DeliveryStatus.HELD.value, DeliveryStatus.CLAIMED.value,
            DeliveryStatus.SENDING.value}


def insert_corrections(conn: Connection, dialect: str, article_ids: Iterable[int], *,
                       now: datetime, policy: CorrectionPolicy) -> int:
    """Plan the edits of the posts of ``article_ids`` whose feed entry just changed, in the
    caller's transaction; mark those articles corrected. Returns how many rows were added."""
    ids = sorted(set(article_ids))
    if not ids or policy.window <= timedelta(0):
        return 0
    rows = conn.execute(
        select(D.c.id, D.c.article_id, D.c.channel, D.c.status, D.c.revision, D.c.receipt_id,
               D.c.sent_at, D.c.edit_of).where(D.c.article_id.in_(ids))).all()
    by_post: dict[tuple[int, str], list[Any]] = {}
    for row in rows:
        by_post.setdefault((row.article_id, row.channel), []).append(row)
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
    if corrected:
        conn.execute(update(schema.articles).where(schema.articles.c.id.in_(sorted(corrected)))
                     .values(corrected_at=now))
    return insert_deliveries(conn, dialect, plans, now)
