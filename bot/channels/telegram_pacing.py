"""Pacing sends so that Telegram never has to say "Too Many Requests".

Telegram allows about one message per second to a chat, 20 per minute to a group or channel
and 30 per second for the whole bot. A ``Pacer`` hands out send slots that keep all three,
per bot: every channel instance using the same token (and API server) shares one pacer, so two
channels posting to the same chat, or twenty channels on one bot, stay within the limits
together. A 429 that arrives anyway blocks only that chat for Telegram's ``retry_after``.

Slots are reserved synchronously (no awaits between reading and writing the schedule), so the
pacer needs no lock and works across event loops; the clock and sleep are injectable for tests.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Telegram's documented limits, plus a safety margin for network jitter."""

    per_chat_interval: float = 1.0  # seconds between two messages to one chat
    per_chat_window: float = 60.0  # the window of ``per_chat_per_window``
    per_chat_per_window: int = 20  # messages per window to one group or channel
    overall_per_second: int = 30  # messages per second for the whole bot
    margin: float = 0.05  # added to each per-chat gap: requests do not arrive exactly on time


class PacingDeferred(Exception):
    """The next free slot is further away than the caller is willing to wait."""

    def __init__(self, delay: float, *, rate_limited: bool) -> None:
        super().__init__(f"next send slot in {delay:.1f}s")
        self.delay = delay
        self.rate_limited = rate_limited  # True when a 429 from Telegram set the slot


class Pacer:
    """Hands out send slots per chat within ``Limits``."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._sleep = sleep
        self._chats: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}
        self._all: list[float] = []  # every reserved slot in the last moments, sorted

    def reserve(self, chat: str) -> float:
        """Reserve and return the earliest slot (clock time) a message to ``chat`` may go."""
        limits = self.limits
        now = self._clock()
        slots = self._chats.setdefault(chat, deque())
        # Slots older than the window constrain nothing; all newer ones are kept, so that
        # releasing a slot never loses the one that then bounds the window.
        while slots and slots[0] < now - limits.per_chat_window - limits.margin:
            slots.popleft()
        slot = max(now, self._blocked.get(chat, now))
        if slots:
            slot = max(slot, slots[-1] + limits.per_chat_interval + limits.margin)
            if len(slots) >= limits.per_chat_per_window > 0:
                nth_last = slots[-limits.per_chat_per_window]
                slot = max(slot, nth_last + limits.per_chat_window + limits.margin)
        slot = self._free_overall(slot)
        slots.append(slot)
        bisect.insort(self._all, slot)
        self._forget_before(now - 2.0)
        return slot

    def release(self, chat: str, slot: float) -> None:
        """Give back a reserved slot that was not used (the send was deferred or cancelled)."""
        slots = self._chats.get(chat)
        if slots and slot in slots:
            slots.remove(slot)
        index = bisect.bisect_left(self._all, slot)
        if index < len(self._all) and self._all[index] == slot:
            del self._all[index]

    def block(self, chat: str, seconds: float) -> None:
        """Telegram said 429 for ``chat``: nothing goes there for ``seconds``."""
        until = self._clock() + seconds
        self._blocked[chat] = max(until, self._blocked.get(chat, until))

    async def wait(self, chat: str, *, max_wait: float | None = None) -> float:
        """Wait for the next slot for ``chat``; returns the slot.

        Raises ``PacingDeferred`` (with nothing reserved) when the slot is more than
        ``max_wait`` seconds away, so a caller can reschedule instead of holding a worker.
        """
        slot = self.reserve(chat)
        delay = slot - self._clock()
        if max_wait is not None and delay > max_wait:
            self.release(chat, slot)
            blocked = self._blocked.get(chat, 0.0) >= slot
            raise PacingDeferred(delay, rate_limited=blocked)
        try:
            if delay > 0:
                await self._sleep(delay)
        except BaseException:
            self.release(chat, slot)
            raise
        return slot

    def _free_overall(self, slot: float) -> float:
        """The earliest time at or after ``slot`` at least 1/overall s from any other slot."""
        # A millisecond more than 1/30 s, so that 31 slots never fit in one second however
        # the floating-point sums round.
        spacing = 1.0 / self.limits.overall_per_second + 1e-3
        index = bisect.bisect_left(self._all, slot - spacing + 1e-9)
        while index < len(self._all) and self._all[index] < slot + spacing - 1e-9:
            slot = max(slot, self._all[index] + spacing)
            index += 1
        return slot

    def _forget_before(self, horizon: float) -> None:
        cut = bisect.bisect_left(self._all, horizon)
        if cut:
            del self._all[:cut]
        for chat in [c for c, until in self._blocked.items() if until < horizon]:
            del self._blocked[chat]


_shared: dict[str, Pacer] = {}


def shared_pacer(token: str, api_url: str) -> Pacer:
    """The one pacer for this bot (token) on this API server, shared in the process."""
    key = hashlib.sha256(f"{api_url}\0{token}".encode()).hexdigest()
    pacer = _shared.get(key)
    if pacer is None:
        pacer = _shared[key] = Pacer()
    return pacer
