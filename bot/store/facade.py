"""The full store: every operation, over one SQLAlchemy engine, migrated on open.

``bot.store`` hands this out (``open_store``) and loads it only when asked: importing
SQLAlchemy costs a fifth of a second, which a short command answered by the light store
(bot/store/light.py) never pays.
"""

from __future__ import annotations

from datetime import timedelta

from bot.store.articles import ArticleQueries
from bot.store.base import DEFAULT_BUSY_TIMEOUT
from bot.store.base import open_engine as _open_engine
from bot.store.boundary import guard_store_errors
from bot.store.channels import ChannelQueries
from bot.store.desk import DeskQueries
from bot.store.digest_queries import DigestQueries
from bot.store.outbox import OutboxQueries
from bot.store.workers import WorkerQueries


@guard_store_errors
class Store(OutboxQueries, ArticleQueries, ChannelQueries, DigestQueries, WorkerQueries,
            DeskQueries):
    """Every store operation, over one engine. ``with open_store(url) as store:`` closes it.

    A database error leaves any of its methods as ``StoreError`` (bot/store/boundary.py)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def full(self) -> Store:
        """This store: it answers everything (see bot/store/light.py's ``CycleStore``)."""
        return self


def open_store(url: str, *, busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT) -> Store:
    """Open (and migrate) the store at ``url``. Raises StoreError with a clear message.

    ``busy_timeout``: how long a SQLite write waits for another connection's write lock
    (see bot/store/base.py for where that wait lands)."""
    is_sqlite = url.startswith("sqlite")
    return Store(_open_engine(url, busy_timeout=busy_timeout),
                 busy_timeout=busy_timeout if is_sqlite else None)
