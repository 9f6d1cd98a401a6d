"""The one small protocol every platform implements, in the shape of an httpx transport.

The core (dispatch, render, CLI) talks only to these protocols and to the platform object
(bot/channels/platform.py); only a platform's own sender module imports its SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.models import Receipt, RenderedPost


@dataclass(frozen=True)
class TextMeasure:
    """A post's length as its platform counts it, and what (if anything) it would refuse.

    The desk shows it beside each preview and refuses an editor's text whose ``problem`` is
    not empty, saying why in the platform's terms.
    """

    length: int
    limit: int
    unit: str  # "UTF-16 units", "weighted characters"
    problem: str = ""  # "" when the platform accepts the text

    @property
    def ok(self) -> bool:
        return not self.problem


@runtime_checkable
class PostFormat(Protocol):
    """A platform's rules for what a post may be, used while rendering (no I/O)."""

    @property
    def markup(self) -> str:
        """"html" for a platform's HTML subset, "text" for plain text."""
        ...

    @property
    def media(self) -> bool:
        """The lead image goes with the post (which may change the length rules)."""
        ...

    @property
    def hashtags(self) -> int:
        """At most this many hashtags; render drops them first when a post is too long."""
        ...

    @property
    def threads(self) -> bool:
        """A summary too long for one post continues in replies (``thread_parts``)."""
        ...

    def fits(self, text: str, *, with_media: bool) -> bool:
        """True when ``text`` is within the platform's length rules."""
        ...

    def measure(self, text: str, *, with_media: bool) -> TextMeasure:
        """The length of ``text`` in the platform's unit, its limit, and why the platform
        would refuse it ("" when it would not)."""
        ...

    def thread_parts(self, summary_rest: str, *, reserve: str = "") -> tuple[str, ...]:
        """The rest of a summary as replies, each valid with ``reserve`` (a part number)
        appended (called only when ``threads``)."""
        ...


@runtime_checkable
class Channel(Protocol):
    """Sends rendered posts to one configured destination."""

    name: str

    async def send(self, post: RenderedPost) -> Receipt:
        """Deliver ``post`` or raise a ``bot.errors.ChannelError`` subclass.

        Raise ``RetryableError`` only when the post certainly did not go out,
        ``PermanentError`` when the platform refused it, and ``UnknownOutcomeError`` when
        the request may have reached the platform (never retried automatically).
        """
        ...

    async def close(self) -> None:
        """Release connections. Safe to call twice."""
        ...


@runtime_checkable
class EditableChannel(Channel, Protocol):
    """A channel whose platform corrects a sent post in place (``Capabilities.edit``).

    Corrections (a changed title or summary) are outbox rows like any post: dispatch renders
    the corrected post and calls ``edit`` with the first send's ``Receipt.platform_id``.
    """

    async def edit(self, platform_id: str, post: RenderedPost) -> Receipt:
        """Replace the sent post's text (and caption) with ``post``'s; errors as ``send``."""
        ...
