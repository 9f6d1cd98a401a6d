"""The reads behind ``newsbot status``, written out as the driver's own SQL.

``newsbot status`` on SQLite spent about 0.2 s of its 0.4 s importing SQLAlchemy to run
these few SELECTs. The light store (bot/store/light.py) runs this text over a plain
``sqlite3`` connection, and the full store's methods run the same text through
``driver.run``, each row read by the same function here: the two cannot drift apart
(tests/test_light_store_status.py compares their answers on one file).

SQLite takes ``?`` placeholders; PostgreSQL takes ``$1…$n`` (driver.run's RawCursor).
Times are bound with ``poll_sql.datetime_binder`` and read with ``aware_utc``, as a
UTCDateTime column would.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.models import Delivery, DeliveryStatus
from bot.store.poll_sql import SOURCE_STATES_SQL, datetime_binder, placeholders, take
from bot.store.records import ChannelState, ChannelView, WorkerView
from bot.store.utc import aware_utc

#: A worker that has not beaten for this long is taken for dead (it beats every poll tick).
WORKER_STALE = timedelta(minutes=2)


@functools.lru_cache(maxsize=2)
def source_state_sql(postgres: bool) -> str:
    """One source's row, in the order ``poll_sql.read_source_state`` takes its columns."""
    return f"{SOURCE_STATES_SQL} WHERE id = {next(placeholders(postgres))}"


COUNTS_BY_STATUS_SQL = ("SELECT channel, status, count(*) FROM deliveries "
                        "GROUP BY channel, status")


def read_counts_by_status(rows: Iterable[Sequence[Any]]) -> dict[str, dict[str, int]]:
    """{channel: {status: count}} from the rows of ``COUNTS_BY_STATUS_SQL``."""
    result: dict[str, dict[str, int]] = {}
    for channel, status, count in rows:
        result.setdefault(channel, {})[status] = int(count)
    return result


CHANNEL_STATES_SQL = "SELECT channel, paused, attention, chat_override FROM channel_state"


def read_channel_state(row: Sequence[Any]) -> ChannelState:
    """A ChannelState from a row of ``CHANNEL_STATES_SQL`` (SQLite's 0/1 as a bool)."""
    channel, paused, attention, chat_override = row
    return ChannelState(channel, bool(paused), attention, chat_override)


@functools.lru_cache(maxsize=2)
def live_workers_sql(postgres: bool) -> str:
    """Workers seen at or after a time, oldest first; bind ``live_workers_params``."""
    return ("SELECT worker, started_at, seen_at, channels FROM workers "
            f"WHERE seen_at >= {next(placeholders(postgres))} ORDER BY started_at, worker")


def live_workers_params(dialect: str, now: datetime) -> tuple[Any, ...]:
    """Workers seen within ``WORKER_STALE`` of ``now``."""
    return (datetime_binder(dialect)(now - WORKER_STALE),)


def read_worker(row: Sequence[Any]) -> WorkerView:
    """A WorkerView from a row of ``live_workers_sql`` (its channels decoded from JSON)."""
    worker, started_at, seen_at, channels = row
    return WorkerView(worker, aware_utc(started_at), aware_utc(seen_at),
                      {n: ChannelView(v.get("mode", ""), v.get("why", ""))
                       for n, v in json.loads(channels or "{}").items()})


@functools.lru_cache(maxsize=2)
def last_discovered_sql(postgres: bool) -> str:
    """When one source last gave a new article: one row, NULL if it never did."""
    return ("SELECT max(discovered_at) FROM articles "
            f"WHERE source_id = {next(placeholders(postgres))}")


@functools.lru_cache(maxsize=2)
def newest_published_sql(postgres: bool) -> str:
    """The publication times of one source's newest articles (bind its id and how many),
    newest first."""
    marks = placeholders(postgres)
    return ("SELECT published_at FROM articles "
            f"WHERE source_id = {next(marks)} "
            f"ORDER BY published_at DESC LIMIT {next(marks)}")


#: The columns ``read_delivery`` takes, in its order.
DELIVERY_READ_COLUMNS = ("id", "article_id", "channel", "status", "due_at", "attempts",
                         "priority", "last_error", "receipt_id", "receipt_url", "note",
                         "created_at", "sent_at", "updated_at", "edited_text", "edit_of",
                         "revision")


@functools.lru_cache(maxsize=16)
def deliveries_in_sql(postgres: bool, statuses: int, channel: bool = False) -> str:
    """Deliveries in ``statuses`` states (bind their values), of one channel if ``channel``
    (bind its name after them), in the outbox's order: by channel, highest priority first,
    then due time."""
    marks = placeholders(postgres)
    states = take(marks, statuses)
    of_channel = f" AND channel = {next(marks)}" if channel else ""
    return (f"SELECT {', '.join(DELIVERY_READ_COLUMNS)} FROM deliveries "
            f"WHERE status IN ({states}){of_channel} "
            "ORDER BY channel, priority DESC, due_at, id")


def read_delivery(row: Sequence[Any]) -> Delivery:
    """A Delivery from a row of ``deliveries_in_sql``."""
    (delivery_id, article_id, channel, status, due_at, attempts, priority, last_error,
     receipt_id, receipt_url, note, created_at, sent_at, updated_at, edited_text, edit_of,
     revision) = row
    return Delivery(id=delivery_id, article_id=article_id, channel=channel,
                    status=DeliveryStatus(status), due_at=aware_utc(due_at), attempts=attempts,
                    priority=priority, last_error=last_error, receipt_id=receipt_id,
                    receipt_url=receipt_url, note=note, created_at=aware_utc(created_at),
                    sent_at=aware_utc(sent_at), updated_at=aware_utc(updated_at),
                    edited_text=edited_text, edit_of=edit_of, revision=revision)


@functools.lru_cache(maxsize=2)
def spend_since_sql(postgres: bool) -> str:
    """Posts sent on one channel since a time, and their summed cost; bind
    ``spend_since_params``."""
    marks = placeholders(postgres)
    return ("SELECT count(*), coalesce(sum(cost), 0.0) FROM deliveries "
            f"WHERE channel = {next(marks)} AND sent_at >= {next(marks)} "
            f"AND status = {next(marks)}")


def spend_since_params(dialect: str, channel: str, since: datetime) -> tuple[Any, ...]:
    return (channel, datetime_binder(dialect)(since), DeliveryStatus.SENT.value)


def read_spend(row: Sequence[Any]) -> tuple[int, float]:
    """(posts, summed cost) from the row of ``spend_since_sql``."""
    return int(row[0]), float(row[1])


def read_rhythm(last: Any, published: Iterable[Sequence[Any]]
                ) -> tuple[datetime | None, list[datetime]]:
    """A source's rhythm from ``last_discovered_sql``'s value and ``newest_published_sql``'s
    rows (an aggregate's value carries no column type: it is read here as the column's)."""
    return aware_utc(last), [aware_utc(value) for (value,) in published]
