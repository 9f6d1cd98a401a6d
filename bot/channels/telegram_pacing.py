"""Pacing sends so that Telegram never has to say "Too Many Requests".

Telegram allows about one message per second to a chat, 20 per minute to a group or channel
(not to a private chat with a user) and 30 per second for the whole bot.

Who enforces what:

- the per-chat limits are decided in the store, before a post is claimed (``bot.dispatch``:
  ``platform_pace``, counted from each post's answer). That is the authority: it holds across
  every ``newsbot run`` worker on one PostgreSQL store;
- this ``Pacer`` enforces, per bot (every channel instance using the same token and API
  server shares one), the 30 per second overall, which the store does not see, and keeps 429s
  blocking a chat for Telegram's ``retry_after``;
- it also re-checks the per-chat limits as a safety net for what the store cannot see: two
  configured channels posting to one chat, or a caller that is not the dispatcher. It counts a
  send from Telegram's answer, as the store does, so after the store has let a post go the
  safety net never adds a wait of its own. Only a send still in flight (no answer yet) is
  counted from its slot plus ``margin``: when it reached Telegram is not known yet.

Slots are reserved synchronously (no awaits between reading and writing the schedule), so the
pacer needs no lock and works across event loops; the clock and sleep are injectable for tests.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.channels.telegram_limits import TELEGRAM_LIMITS, Limits, is_private_chat


@dataclass(frozen=True)
class Slot:
    """A send slot from ``Pacer.wait``; report how the send went with ``sent`` or ``refused``."""

    chat: str
    at: float  # clock time from which the request may go
    number: int  # tells two slots at the same time apart


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
        self.limits = limits or TELEGRAM_LIMITS
        self._clock = clock
        self._sleep = sleep
        # Per chat, per slot number: the time the per-chat limits count that send from
        # (its slot plus the margin until Telegram answers, then the answer's time).
        self._chats: dict[str, dict[int, float]] = {}
        self._blocked: dict[str, float] = {}
        self._all: list[float] = []  # every reserved slot in the last moments, sorted
        self._numbers = itertools.count()

    def reserve(self, chat: str) -> Slot:
        """Reserve and return the earliest slot for a message to ``chat``."""
        limits = self.limits
        now = self._clock()
        sends = self._chats.setdefault(chat, {})
        # Sends older than the window constrain nothing; all newer ones are kept, so that
        # releasing a slot never loses the one that then bounds the window.
        horizon = now - max(limits.per_chat_window, limits.per_chat_interval)
        for number in [n for n, t in sends.items() if t < horizon]:
            del sends[number]
        at = max(now, self._blocked.get(chat, now))
        if sends:
            counted = sorted(sends.values())
            at = max(at, counted[-1] + limits.per_chat_interval)
            window = limits.per_chat_per_window
            if window > 0 and len(counted) >= window and not is_private_chat(chat):
                at = max(at, counted[-window] + limits.per_chat_window)
        at = self._free_overall(at)
        slot = Slot(chat, at, next(self._numbers))
        sends[slot.number] = at + limits.margin
        bisect.insort(self._all, at)
        self._forget_before(now - 2.0)
        return slot

    def sent(self, slot: Slot) -> None:
        """Telegram answered (or may have posted it): count the send from now on."""
        sends = self._chats.get(slot.chat)
        if sends is not None and slot.number in sends:
            sends[slot.number] = max(self._clock(), slot.at)

    def refused(self, slot: Slot) -> None:
        """Telegram posted nothing (an error answer): the chat's limits do not count it.

        The request did reach the bot's overall budget, so its overall slot is kept.
        """
        sends = self._chats.get(slot.chat)
        if sends is not None:
            sends.pop(slot.number, None)

    def release(self, slot: Slot) -> None:
        """Give back a reserved slot that was not used (the send was deferred or cancelled)."""
        self.refused(slot)
        index = bisect.bisect_left(self._all, slot.at)
        if index < len(self._all) and self._all[index] == slot.at:
            del self._all[index]

    def block(self, chat: str, seconds: float) -> None:
        """Telegram said 429 for ``chat``: nothing goes there for ``seconds``."""
        until = self._clock() + seconds
        self._blocked[chat] = max(until, self._blocked.get(chat, until))

    async def wait(self, chat: str, *, max_wait: float | None = None) -> Slot:
        """Wait for the next slot for ``chat``; returns the slot, to report back on.

        Raises ``PacingDeferred`` (with nothing reserved) when the slot is more than
        ``max_wait`` seconds away, so a caller can reschedule instead of holding a worker.
        """
        slot = self.reserve(chat)
        delay = slot.at - self._clock()
        if max_wait is not None and delay > max_wait:
            self.release(slot)
            blocked = self._blocked.get(chat, 0.0) >= slot.at
            raise PacingDeferred(delay, rate_limited=blocked)
        try:
            if delay > 0:
                await self._sleep(delay)
        except BaseException:
            self.release(slot)
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
