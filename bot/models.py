"""The data that crosses module boundaries, as frozen dataclasses.

The flow is one direction: ``FeedItem`` (parsed from a feed) → ``Article`` (stored) →
``Delivery`` (one outbox row per article and channel) → ``RenderedPost`` → ``Receipt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

#: A digest reader's states (bot/store/subscribers.py); here so the CLI's choices need no store.
SUBSCRIBER_STATUSES = ("pending", "active", "unsubscribed", "bounced")


@dataclass(frozen=True)
class FeedItem:
    """One item as parsed from a feed (and possibly enriched from its page), not yet stored."""

    source_id: str
    guid: str
    url: str  # canonical: tracking parameters and fragment removed
    title: str  # plain text, entities decoded
    summary: str = ""  # plain text; "" when the feed carried nothing usable
    summary_html: str = ""  # the feed's own HTML summary, unsanitised (sanitise before use)
    text: str = ""  # full article text when it was extracted from the page
    author: str = ""
    sections: tuple[str, ...] = ()
    language: str = ""
    published: datetime | None = None  # timezone-aware UTC
    image_url: str | None = None
    image_alt: str = ""
    image_from_html: bool = False  # found in the summary's HTML (a page's og:image is better)
    image_problem: str = ""  # why the image may not be posted (bot.ingest.image_check); "" = ok


@dataclass(frozen=True)
class Article:
    """An article as the store holds it: the single source of truth."""

    id: int
    source_id: str
    guid: str
    url: str
    title: str
    summary: str
    text: str
    author: str
    sections: tuple[str, ...]
    language: str
    published_at: datetime  # UTC; discovery time when the feed gave none
    discovered_at: datetime
    image_url: str | None
    image_alt: str
    summary_html: str = ""
    image_problem: str = ""  # set when the image check failed: posts go out as text

    @property
    def usable_image_url(self) -> str | None:
        """The lead image, unless its one check at ingest failed (then posts go as text)."""
        return None if self.image_problem else self.image_url
    corrected_at: datetime | None = None  # the feed changed its title or summary after posting


_new_object = object.__new__
_set = object.__setattr__


def article_of(fields: dict[str, Any]) -> Article:
    """The Article ``Article(**fields)`` makes, built in one step. ``fields`` names every
    field once and becomes the article's own dict (pass a new one).

    The generated ``__init__`` of a frozen dataclass sets each of its 17 fields through
    ``object.__setattr__`` (~3 µs an article: 0.03 s of the event loop for a poll of 10,000
    new items). Article has no ``__post_init__``, slots or default factories, so its fields
    are its instance dict and nothing else: the result is as frozen, equal and hashable as
    the constructor's (tests/test_store_poll_sql.py holds the store's to the constructor)."""
    article: Article = _new_object(Article)
    _set(article, "__dict__", fields)
    return article


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its due time
    AWAITING = "awaiting"  # its channel needs an editor's approval first (approval: required)
    HELD = "held"  # an editor put it on hold
    CLAIMED = "claimed"  # a worker holds it; nothing has been sent yet
    SENDING = "sending"  # the request may be in flight: if its worker dies, it becomes unknown
    SENT = "sent"
    FAILED = "failed"  # permanent: the platform's words are in last_error
    UNKNOWN = "unknown"  # may or may not have gone out; a person decides (newsbot retry)
    SKIPPED = "skipped"  # an editor said never post it, or overflow policy dropped it


@dataclass(frozen=True)
class Delivery:
    """One row of the outbox: this article, to this channel, due at this time."""

    id: int
    article_id: int
    channel: str
    status: DeliveryStatus
    due_at: datetime
    attempts: int = 0
    priority: int = 0
    last_error: str = ""
    receipt_id: str = ""
    receipt_url: str = ""
    note: str = ""
    created_at: datetime | None = None
    sent_at: datetime | None = None
    updated_at: datetime | None = None  # its last change (failed, skipped…: when)
    edited_text: str = ""  # an editor's own text: sent instead of the rendered template
    # A correction: the platform's id of the sent post this row edits in place ("" for a
    # post), and which edit of that post it is (0 for the post itself).
    edit_of: str = ""
    revision: int = 0

    @property
    def is_correction(self) -> bool:
        return bool(self.edit_of)


@dataclass(frozen=True)
class RenderedPost:
    """What a channel sends: the rendered body plus the media it may attach."""

    channel: str
    article_id: int
    text: str  # Telegram HTML for telegram, plain text for X
    link: str = ""
    image_url: str | None = None
    image_alt: str = ""
    thread: tuple[str, ...] = ()  # X: continuation replies, each already valid
    subject: str = ""  # email: the subject line
    language: str = ""  # the article's language (BCP 47), for platforms that label posts


@dataclass(frozen=True)
class Receipt:
    """The platform's acknowledgement of a sent post."""

    platform_id: str  # message id / tweet id / Message-ID
    url: str = ""  # a link a person can open, when the platform has one
    note: str = ""  # e.g. "sent as text: photo rejected (…)"
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class NewDelivery:
    """A delivery the planner decided on, before the outbox stores it."""

    channel: str
    due_at: datetime
    priority: int = 0
    status: DeliveryStatus = DeliveryStatus.PENDING
    note: str = ""
    revision: int = 0  # corrections: the n-th edit of the post ...
    edit_of: str = ""  # ... whose platform id this is


@dataclass(frozen=True)
class ChannelHistory:
    """What the planner needs to know about a channel's recent posts (read by the store in
    the claim transaction, so pacing holds across workers; the planner only reads it)."""

    channel: str
    recent: tuple[datetime, ...]  # sent or in-flight times, newest first, last ~8 days
    in_flight: int = 0

    @property
    def last_at(self) -> datetime | None:
        return self.recent[0] if self.recent else None
