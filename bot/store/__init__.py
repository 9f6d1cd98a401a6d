"""The store: the single source of truth (SQLite by default, PostgreSQL by URL).

``open_store(url)`` returns a ``Store``, whose operations are grouped by what they serve:
articles and source state (ingest), the deliveries outbox (plan and dispatch), channel state
and leases (editors, several workers).

The records the pipeline names (``SourceState``, ``PollSuccess``, …) load with this package;
``Store``, ``open_store`` and ``redact_url`` load SQLAlchemy, so they are imported when first
asked for (PEP 562): a short command answered by the light store (bot/store/light.py) never
loads it. Modules that only annotate with ``Store`` import it under ``TYPE_CHECKING``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.models import ChannelHistory, NewDelivery
from bot.store.records import (
    ChannelState,
    ChannelView,
    PollRecord,
    PollSuccess,
    PollWrite,
    SourceState,
    WorkerView,
)

if TYPE_CHECKING:
    from bot.store.base import redact_url
    from bot.store.facade import Store, open_store
else:
    def __getattr__(name: str) -> Any:
        if name in ("Store", "open_store"):
            from bot.store import facade

            return getattr(facade, name)
        if name == "redact_url":
            from bot.store.base import redact_url

            return redact_url
        raise AttributeError(f"module 'bot.store' has no attribute {name!r}")


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
