"""What the store hands across its boundary: frozen records, free of SQLAlchemy.

The pipeline (poll, dispatch, operations) names these at import; keeping them apart from the
queries lets a short command that never opens the full store (bot/store/light.py) run without
loading SQLAlchemy at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import Article, DeliveryStatus, FeedItem, NewDelivery


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about polling one source."""

    source_id: str
    etag: str = ""
    last_modified: str = ""
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    # The failing poll's words; after a poll that worked, its notes (pages left out, items
    # skipped) so `newsbot status` shows what a running bot did not tell anyone else.
    last_error: str = ""
    consecutive_errors: int = 0
    next_poll_at: datetime | None = None
    items_seen: int = 0
    parser: str = ""  # which parser read the last feed
    parser_note: str = ""  # why feedparser stood in for fastfeedparser, if it did

    @property
    def never_polled(self) -> bool:
        return self.last_success_at is None

    @property
    def failing(self) -> bool:
        return self.consecutive_errors > 0

    @property
    def note(self) -> str:
        """What the last poll, which worked, left out and why ("" when nothing)."""
        return "" if self.failing else self.last_error


@dataclass(frozen=True)
class PollSuccess:
    """What a poll that worked leaves on its source's row."""

    now: datetime
    next_poll_at: datetime
    etag: str = ""
    last_modified: str = ""
    items: int = 0  # items the feed gave, added to items_seen
    note: str = ""  # what the poll left out and why, for `status`
    parser: str = ""  # which parser read the feed ("" for a 304: the last one is kept)
    parser_note: str = ""


@dataclass(frozen=True)
class PollWrite:
    """What ``record_poll`` stored: each item's article and whether it is new, in order, and
    how many deliveries were created."""

    articles: tuple[tuple[Article, bool], ...]
    deliveries: int


#: Plans the deliveries of a poll's new announced articles: (article id, delivery) rows.
Planner = Callable[[list[Article]], Iterable[tuple[int, NewDelivery]]]


@dataclass(frozen=True)
class PollRecord:
    """One feed's poll, as ``record_poll`` takes it: what ``record_polls`` writes together."""

    source_id: str
    items: Sequence[FeedItem]
    announced: Sequence[bool]
    found: Sequence[Article | None] | None
    plan: Planner
    done: PollSuccess
    corrections: CorrectionPolicy | None = None


@dataclass(frozen=True)
class ChannelState:
    channel: str
    paused: bool = False
    attention: str = ""  # non-empty: a person must look (bad token, bot removed from chat)
    chat_override: str = ""


@dataclass(frozen=True)
class ChannelView:
    """One channel as one worker runs it."""

    mode: str  # "live", "preview", "paused" or "needs attention"
    why: str = ""


@dataclass(frozen=True)
class WorkerView:
    worker: str
    started_at: datetime
    seen_at: datetime
    channels: dict[str, ChannelView]


@dataclass(frozen=True)
class CorrectionPolicy:
    """How long after a post a correction still follows it, and what each channel does:
    ``decide(channel)`` gives the new row's status and note, or None for a channel no longer
    configured (nothing is done for it)."""

    window: timedelta
    decide: Callable[[str], tuple[DeliveryStatus, str] | None]
