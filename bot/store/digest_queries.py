"""Everything the email digest asks of the store, as one type (``bot/digest/`` takes it)."""

from __future__ import annotations

from bot.store.confirmations import ConfirmationQueries
from bot.store.digest_runs import DigestRunQueries
from bot.store.digest_sends import DigestSendQueries
from bot.store.subscribers import SubscriberQueries


class DigestQueries(SubscriberQueries, ConfirmationQueries, DigestRunQueries,
                    DigestSendQueries):
    """Subscribers, confirmation limits, digest runs and their per-reader copies."""
