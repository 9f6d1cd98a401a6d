"""``newsbot run``'s dispatch clock: each channel is dispatched on its own, when the store
says one of its posts may go.

A fixed tick (``dispatch_every``) cost a channel with a standing backlog about a sixth of
Telegram's limit: once 20 posts had filled the minute, the channel waited for the first tick
after the window reopened, and one pass served every channel, so the next tick came only
when the slowest channel's burst was over. A new article for a quiet channel waited for
those bursts too. Here instead:

- each channel's pass is a task of its own; while it runs, the loop leaves that channel alone;
- after every pass and at every wake, the loop asks the dispatcher when each idle channel's
  next post may go (the earliest due time, window, gap, daily cap or pace slot the store
  knows: ``Dispatcher.next_post_at``), starts the channels that may post now and sleeps
  until the earliest of the others;
- ``poke()`` wakes it at once: the poll calls it when it created deliveries, the desk in
  this process after an editor's approve, post-now… (bot/desk/hooks.py);
- it wakes at least every ``dispatch_every`` anyway, for what this process cannot see:
  another worker's sends, an editor's ``post-now`` from the command line or a desk served
  by ``newsbot serve``, a store that was down.

The store still decides every claim (``pick_due`` in the claim transaction), so waking early
or late costs a query, never a post too many.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.dispatch import Dispatcher

log = logging.getLogger("newsbot.dispatch")

#: The shortest sleep between two wakes: a bound on how often the store is asked.
MIN_SLEEP = 0.05
#: A channel whose pass claimed nothing although the store said it could post (another
#: worker's post in flight, an X budget spent) is asked again after this many seconds, then
#: twice as long each time, up to dispatch_every: never a busy loop, nor a log line a second.
IDLE_RETRY = 1.0


class DispatchLoop:
    """Runs channel passes for the current dispatcher until ``stop``."""

    def __init__(self, dispatcher: Callable[[], Dispatcher | None], *,
                 every: Callable[[], float],
                 job: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
                 on_wake: Callable[[], None] = lambda: None) -> None:
        self._dispatcher = dispatcher  # read at every wake: a reload swaps it
        self._every = every
        self._job = job  # marks a pass as work in progress (shutdown waits for it)
        self._on_wake = on_wake
        self._wake = asyncio.Event()
        self._passes: dict[str, asyncio.Task[Any]] = {}
        self._retry_at: dict[str, float] = {}  # channel → loop time before which it waits
        self._idle: dict[str, int] = {}  # channel → passes in a row that claimed nothing
        self._held = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dispatch")

    def poke(self) -> None:
        """Look at the store now (new deliveries were created). Call from the event loop."""
        self._wake.set()

    async def settle(self) -> None:
        """Start no new pass, and let the ones in progress end after their post in flight
        (the dispatcher is told to stop): a reload swaps channels only between posts."""
        self._held = True
        dispatcher = self._dispatcher()
        if dispatcher is not None:
            dispatcher.stopping = True
        await asyncio.gather(*self._passes.values(), return_exceptions=True)

    def resume(self) -> None:
        """Start passes again (for the dispatcher a reload swapped in)."""
        self._held = False
        self._retry_at.clear()
        self._idle.clear()
        self.poke()

    async def stop(self, *, cancel_passes: bool = False) -> None:
        """Stop waking. Passes in progress are the caller's to wait for (see ``job``), or
        are cancelled with ``cancel_passes`` (a post cut off mid-send is marked unknown)."""
        self._held = self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if cancel_passes:
            passes = list(self._passes.values())
            for task in passes:
                task.cancel()
            await asyncio.gather(*passes, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopped:
            self._wake.clear()
            try:
                delay = await self._wake_up()
            except Exception:  # a bug or a store that is down must not stop the clock
                log.exception("dispatch failed")
                delay = self._every()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set, and the loop would run on after stop().
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _wake_up(self) -> float:
        """Start the passes that are due; return the seconds until the next wake."""
        every = max(MIN_SLEEP, self._every())
        dispatcher = self._dispatcher()
        if dispatcher is None or self._held:
            return every
        self._on_wake()
        if dispatcher.dry_run:  # previews each due post once, in plan order (bot/dry_run.py)
            with self._job():
                await dispatcher.run_once()
            return every
        now = dispatcher.clock()
        # On the event loop, like the dispatcher's own claims: a few indexed queries per
        # channel. (In a thread they would race the loop's writes for SQLite's lock.)
        due, later = self._survey(dispatcher, now, set(self._passes))
        loop_now = asyncio.get_running_loop().time()
        delay = every if later is None else (later - now).total_seconds()
        for name in due:
            retry_at = self._retry_at.get(name, 0.0)
            if loop_now < retry_at:
                delay = min(delay, retry_at - loop_now)
                continue
            self._passes[name] = asyncio.create_task(self._pass(dispatcher, name),
                                                     name=f"dispatch:{name}")
        return min(every, max(MIN_SLEEP, delay))

    @staticmethod
    def _survey(dispatcher: Dispatcher, now: datetime, busy: set[str]
                ) -> tuple[list[str], datetime | None]:
        """(channels that may post now, the earliest moment another one may), from the
        store."""
        _, unknown = dispatcher.store.recover_expired(now)
        if unknown:
            log.warning("%d deliveries were being sent when their worker stopped; they are "
                        "marked unknown (see `newsbot status`)", unknown)
        due: list[str] = []
        later: datetime | None = None
        for name in dispatcher.serving():
            if name in busy:
                continue
            at = dispatcher.next_post_at(name, now)
            if at is None:
                continue
            if at <= now:
                due.append(name)
            elif later is None or at < later:
                later = at
        return due, later

    async def _pass(self, dispatcher: Dispatcher, name: str) -> None:
        claimed = False
        try:
            with self._job():
                report = await dispatcher.run_channel(name)
            claimed = any(n for outcome, n in report.outcomes.items()
                          if outcome != "waiting_on_budget")
        except Exception:
            log.exception("dispatch of %s failed", name)
        finally:
            self._passes.pop(name, None)
        if claimed:
            self._retry_at.pop(name, None)
            self._idle.pop(name, None)
        else:
            idle = self._idle[name] = self._idle.get(name, 0) + 1
            wait = min(IDLE_RETRY * 2 ** (idle - 1), max(IDLE_RETRY, self._every()))
            self._retry_at[name] = asyncio.get_running_loop().time() + wait
        self.poke()  # its next post's time is known now
