"""A channel's recent posts (``ChannelHistory``), written out as the driver's own SQL.

``newsbot queue`` and ``newsbot plan`` read each channel's history to say when its posts
are expected to go; a dispatch pass reads it inside its claim transaction to pace them. The
light store (bot/store/light.py) runs this text over a plain ``sqlite3`` connection and the
full store (bot/store/outbox.py ``history``) through ``driver.run``, each row read here:
the planner sees one history whichever store answered (tests/test_light_store_queue.py).

Bind the parameters ``history_params`` gives, in order, to the three statements of
``history_sql``; read their rows with ``read_history``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.models import ChannelHistory, DeliveryStatus
from bot.store.poll_sql import datetime_binder, placeholders
from bot.store.utc import aware_utc

#: How far back a channel's sent posts count (the planner's longest look back is a week).
HISTORY_DAYS = timedelta(days=8)
_IN_FLIGHT = (DeliveryStatus.CLAIMED.value, DeliveryStatus.SENDING.value)


@functools.lru_cache(maxsize=2)
def history_sql(postgres: bool) -> tuple[str, str, str]:
    """The times of a channel's posts sent since a time, of those in flight (claimed or
    sending: their last change), and of those whose outcome is unknown since a time."""
    marks = placeholders(postgres)
    one, two, three = next(marks), next(marks), next(marks)
    return (
        "SELECT sent_at FROM deliveries "
        f"WHERE channel = {one} AND sent_at >= {two} AND status = {three}",
        "SELECT updated_at FROM deliveries "
        f"WHERE channel = {one} AND status IN ({two}, {three})",
        "SELECT updated_at FROM deliveries "
        f"WHERE channel = {one} AND updated_at >= {two} AND status = {three}",
    )


def history_params(dialect: str, channel: str, now: datetime
                   ) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """The values of ``history_sql``'s three statements, for ``channel`` at ``now``."""
    since = datetime_binder(dialect)(now - HISTORY_DAYS)
    return ((channel, since, DeliveryStatus.SENT.value), (channel, *_IN_FLIGHT),
            (channel, since, DeliveryStatus.UNKNOWN.value))


def read_history(channel: str, sent: Iterable[Sequence[Any]],
                 flying: Iterable[Sequence[Any]], maybe: Iterable[Sequence[Any]]
                 ) -> ChannelHistory:
    """The history from the rows of ``history_sql``'s three statements."""
    in_flight = [aware_utc(value) for (value,) in flying]
    # A post whose outcome is unknown may have gone out (and may still arrive): it counts
    # against gaps, caps and the platform's pace from when it was given up on.
    times = [aware_utc(value) for (value,) in sent if value]
    times += in_flight
    times += [aware_utc(value) for (value,) in maybe]
    return ChannelHistory(channel=channel, recent=tuple(sorted(times, reverse=True)),
                          in_flight=len(in_flight))
