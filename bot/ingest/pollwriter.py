"""Group commit: the feeds whose polls are ready to be stored together share one transaction.

A commit costs far more than the rows it carries: SQLite rewrites the index pages a feed's
keys land on (the url and guid hashes are random, so 50 keys touch ~50 leaf pages), appends
them to the WAL, and a checkpoint copies them back; PostgreSQL flushes its WAL. On a cold
round of 200 feeds × 50 items a commit per feed was about half of the store's time, on the
event loop. So a poll hands its write to the round's ``PollWriter`` and awaits the answer,
and the writer stores, in a thread, everything queued by the time it takes a batch
(``Store.record_polls``): each feed in a savepoint of its own, so one feed's failure undoes
only that feed and is raised in that feed's poll, as it was when each had its own
transaction.

Batches are as large as the load makes them and are never waited for: the writer takes the
polls that reached their write in the same turn of the loop, or while its previous batch was
being written. A lone poll (``newsbot run``, sources falling due one at a time) is written
at once, in a transaction of its own. A batch is capped (``MAX_ITEMS``, ``MAX_POLLS``) so
that each answer comes back within tens of milliseconds; the rest go in the next batch.

The writes run in a thread so the loop goes on fetching and reading parsed feeds meanwhile
(SQLite and psycopg let go of the GIL while they work), and a write behind a long SQLite
writer waits out the busy timeout there, not on the loop. One batch is written at a time.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from bot.store import PollRecord, PollWrite

if TYPE_CHECKING:
    from bot.store.light import CycleStore

#: A batch stops growing past this many items (new or known) ...
MAX_ITEMS = 2000
#: ... or this many feeds, whichever comes first (a feed larger than the cap goes alone).
MAX_POLLS = 25

_Queued = tuple[PollRecord, "asyncio.Future[PollWrite]"]


class PollWriter:
    """Writes the polls handed to it (``write``) in batches, one batch at a time. One writer
    serves one store; the polls of a round (``poll_sources``) or of a running bot (the
    scheduler) share one, so that those ready together are written together."""

    def __init__(self, store: CycleStore, *, max_items: int = MAX_ITEMS,
                 max_polls: int = MAX_POLLS) -> None:
        self.store = store
        self.max_items = max_items
        self.max_polls = max_polls
        self._queue: deque[_Queued] = deque()
        self._writing: asyncio.Task[None] | None = None

    async def write(self, poll: PollRecord) -> PollWrite:
        """Store ``poll`` (``Store.record_poll``'s promise: all of it or none of it) and
        return what was written; raises what ``record_poll`` would have raised for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PollWrite] = loop.create_future()
        queued = (poll, future)
        self._queue.append(queued)
        if self._writing is None:
            self._writing = loop.create_task(self._write_batches(), name="poll-writer")
        try:
            return await future
        except asyncio.CancelledError:
            if queued in self._queue:  # not taken yet: never written, as if never handed over
                self._queue.remove(queued)
            raise

    def _take(self) -> list[_Queued]:
        batch: list[_Queued] = []
        items = 0
        while self._queue and len(batch) < self.max_polls:
            size = len(self._queue[0][0].items)
            if batch and items + size > self.max_items:
                break
            batch.append(self._queue.popleft())
            items += size
        return batch

    async def _write_batches(self) -> None:
        batch: list[_Queued] = []
        try:
            while batch := self._take():
                polls = [poll for poll, _ in batch]
                try:
                    # The light store writes on a connection of its own (bot/store/light.py).
                    outcomes = await asyncio.to_thread(self.store.record_polls, polls)
                except Exception as exc:  # record_polls answers per poll: a bug, for them all
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its poll was cancelled while the batch was written
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        except asyncio.CancelledError:  # the loop is closing: no answer will come
            for _, future in [*batch, *self._queue]:
                future.cancel()
            raise
        finally:
            self._writing = None
