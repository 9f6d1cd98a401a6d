"""The store: the single source of truth (SQLite by default, PostgreSQL by URL).

``open_store(url)`` returns a ``Store``, whose operations are grouped by what they serve:
articles and source state (ingest), the deliveries outbox (plan and dispatch), channel state
and leases (editors, several workers).
"""

from __future__ import annotations

from datetime import timedelta

from bot.models import ChannelHistory, NewDelivery
from bot.store.articles import (
    ArticleQueries,
    PollRecord,
    PollSuccess,
    PollWrite,
    SourceState,
)
from bot.store.base import DEFAULT_BUSY_TIMEOUT, redact_url
from bot.store.base import open_engine as _open_engine
from bot.store.boundary import guard_store_errors
from bot.store.channels import ChannelQueries, ChannelState
from bot.store.desk import DeskQueries
from bot.store.digest_queries import DigestQueries
from bot.store.outbox import OutboxQueries
from bot.store.workers import ChannelView, WorkerQueries, WorkerView


@guard_store_errors
class Store(OutboxQueries, ArticleQueries, ChannelQueries, DigestQueries, WorkerQueries,
            DeskQueries):
    """Every store operation, over one engine. ``with open_store(url) as store:`` closes it.

    A database error leaves any of its methods as ``StoreError`` (bot/store/boundary.py)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str, *, busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT) -> Store:
    """Open (and migrate) the store at ``url``. Raises StoreError with a clear message.

    ``busy_timeout``: how long a SQLite write waits for another connection's write lock
    (see bot/store/base.py for where that wait lands)."""
    is_sqlite = url.startswith("sqlite")
    return Store(_open_engine(url, busy_timeout=busy_timeout),
                 busy_timeout=busy_timeout if is_sqlite else None)


__all__ = [
    "ChannelHistory",
    "ChannelState",
    "ChannelView",
    "NewDelivery",
    "PollRecord",
    "PollSuccess",
    "PollWrite",
    "SourceState",
    "Store",
    "WorkerView",
    "open_store",
    "redact_url",
]
