"""Running workers' heartbeats, each with that worker's view of every channel.

Whether a channel is live depends on the environment of the process that sends: a shell
without the bot's secrets would call every channel "preview". So each ``newsbot run`` worker
records what it does with each channel, and ``newsbot status`` shows that.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import delete, update

from bot.store import schema
from bot.store.base import StoreBase
from bot.store.driver import run
from bot.store.records import ChannelView, WorkerView
from bot.store.status_sql import live_workers_params, live_workers_sql, read_worker

W = schema.workers
#: A dead worker's row (a crash leaves it) is swept away by the next new worker after this.
FORGET_AFTER = timedelta(days=1)


class WorkerQueries(StoreBase):
    def heartbeat(self, worker: str, *, now: datetime, channels: dict[str, ChannelView],
                  started_at: datetime | None = None) -> None:
        """Record that ``worker`` is alive and how it runs each channel."""
        body = json.dumps({n: {"mode": v.mode, "why": v.why} for n, v in channels.items()},
                          ensure_ascii=False)
        with self.transaction() as conn:
            done = conn.execute(update(W).where(W.c.worker == worker).values(
                seen_at=now, channels=body)).rowcount
            if not done:
                conn.execute(W.insert().values(worker=worker, started_at=started_at or now,
                                               seen_at=now, channels=body))
                # A new worker also sweeps away the rows of ones that died long ago (a
                # crash leaves its row; a clean stop removes it).
                conn.execute(delete(W).where(W.c.seen_at < now - FORGET_AFTER))

    def forget_worker(self, worker: str) -> None:
        """A worker stopping cleanly takes its heartbeat with it."""
        with self.transaction() as conn:
            conn.execute(delete(W).where(W.c.worker == worker))

    def live_workers(self, now: datetime) -> list[WorkerView]:
        """Workers seen within ``status_sql.WORKER_STALE``, oldest first."""
        # The driver's own SQL, shared with the light store (bot/store/status_sql.py).
        with self.engine.connect() as conn:
            dialect = conn.dialect.name
            return [read_worker(row) for row in run(
                conn, live_workers_sql(dialect == "postgresql"),
                live_workers_params(dialect, now))]
