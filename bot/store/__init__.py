"""The store: the single source of truth (SQLite by default, PostgreSQL by URL).

``open_store(url)`` returns a ``Store``, whose operations are grouped by what they serve:
articles and source state (ingest), the deliveries outbox (plan and dispatch), channel state
and leases (editors, several workers).
"""

from __future__ import annotations

from bot.models import ChannelHistory, NewDelivery
from bot.store.articles import ArticleQueries, PollSuccess, PollWrite, SourceState
from bot.store.base import open_engine as _open_engine
from bot.store.base import redact_url
from bot.store.channels import ChannelQueries, ChannelState
from bot.store.desk import DeskQueries
from bot.store.outbox import OutboxQueries
from bot.store.subscribers import SubscriberQueries
from bot.store.workers import ChannelView, WorkerQueries, WorkerView


class Store(OutboxQueries, ArticleQueries, ChannelQueries, SubscriberQueries, WorkerQueries,
            DeskQueries):
    """Every store operation, over one engine. ``with open_store(url) as store:`` closes it."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str) -> Store:
    """Open (and migrate) the store at ``url``. Raises StoreError with a clear message."""
    return Store(_open_engine(url))


__all__ = [
    "ChannelHistory",
    "ChannelState",
    "ChannelView",
    "NewDelivery",
    "PollSuccess",
    "PollWrite",
    "SourceState",
    "Store",
    "WorkerView",
    "open_store",
    "redact_url",
]
