"""What the desk may ask of a bot running in its own process.

An editor's approve, release, post-now, retry, resume or reschedule is a row change in the
store, and the store stays the only truth: any worker's dispatch loop sends the post when it
next asks. Under ``newsbot run`` that loop sleeps until the next due time it knows (up to
``dispatch_every``), so the desk hands it a nudge: "ask the store now". The desk knows only
these two callables, never the scheduler; ``newsbot serve`` (no bot in the process) gets
``NO_BOT``, and the running bot elsewhere picks the change up at its next wake.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass


def nothing() -> None:
    """A hook with no bot behind it."""
    return None


@dataclass(frozen=True)
class BotHooks:
    """Called after the desk changed something the running bot acts on (cheap, never
    raising, safe to call from any thread)."""

    #: The store holds a post that may go sooner than the dispatcher last knew.
    wake_dispatch: Callable[[], None] = nothing
    #: config.yaml was just written (the schedule form): look at it now, not in seconds.
    check_config: Callable[[], None] = nothing


NO_BOT = BotHooks()


def on_loop(loop: asyncio.AbstractEventLoop, work: Callable[[], None]) -> Callable[[], None]:
    """``work`` run on ``loop``, wherever the hook is called from: the desk's pages are
    served on the bot's own loop, but a test client (or a thread) calls from another."""
    def call() -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the bot has stopped
            loop.call_soon_threadsafe(work)
    return call
