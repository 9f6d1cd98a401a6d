"""``newsbot run``: APScheduler as the clock, and nothing more.

Jobs (poll tick, dispatch tick, one cron per digest) are rebuilt from config.yaml at start;
all state lives in the store, never in APScheduler's job store, so a restart loses nothing.
Only the holder of the "poll" lease polls sources and builds digests, so several workers on
one PostgreSQL store never poll twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import make_dispatcher
from bot.config import Config, EmailChannel, load_config
from bot.dispatch import Dispatcher, worker_id
from bot.ingest.fetch import Fetcher
from bot.ingest.poll import make_fetcher, poll_sources
from bot.outlets import Outlet, build_outlets, close_outlets
from bot.reload import CHECK_EVERY, Reloader
from bot.store import Store, open_store

log = logging.getLogger("newsbot.run")
POLL_LEASE = "poll"
LEASE_TTL = timedelta(seconds=60)
POLL_TICK = timedelta(seconds=15)


@dataclass
class Service:
    """One running bot: its configuration, store, channels and clock."""

    config_path: Path
    config: Config
    store: Store
    dry_run: bool = False
    worker: str = field(default_factory=worker_id)
    scheduler: AsyncIOScheduler | None = None
    outlets: dict[str, Outlet] = field(default_factory=dict)
    dispatcher: Dispatcher | None = None
    fetcher: Fetcher | None = None
    is_leader: bool = False
    last_tick: datetime | None = None
    reloader: Reloader | None = None
    # A reload swaps channels and the fetcher only between passes, never under a send.
    _dispatching: asyncio.Lock = field(default_factory=asyncio.Lock)
    _polling: asyncio.Lock = field(default_factory=asyncio.Lock)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> None:
        self.fetcher = make_fetcher(self.config)
        await self.fetcher.__aenter__()
        self._build_channels()
        self.scheduler = AsyncIOScheduler(timezone=self.config.zone)
        self.reloader = Reloader(self)
        self._add_jobs()
        self.scheduler.start()
        for name, outlet in self.outlets.items():
            if outlet.is_preview:
                log.warning("channel %s is in preview mode: %s; posts are written to %s",
                            name, outlet.preview_reason, self.config.preview_dir)
        log.info("newsbot is running as %s: %d sources, %d channels", self.worker,
                 len(self.config.sources), len(self.config.channels))

    def _build_channels(self) -> None:
        self.outlets = build_outlets(self.config, dry_run=self.dry_run)
        self.dispatcher = make_dispatcher(self.config, self.store, self.outlets,
                                          dry_run=self.dry_run)

    def _add_jobs(self) -> None:
        assert self.scheduler is not None
        common: dict[str, Any] = {"coalesce": True, "max_instances": 1, "replace_existing": True}
        self.scheduler.add_job(self.poll_tick, IntervalTrigger(seconds=POLL_TICK.total_seconds()),
                               id="poll", misfire_grace_time=30, next_run_time=datetime.now(UTC),
                               **common)
        every = max(1.0, self.config.dispatch_every.total_seconds())
        self.scheduler.add_job(self.dispatch_tick, IntervalTrigger(seconds=every), id="dispatch",
                               misfire_grace_time=int(every * 4),
                               next_run_time=datetime.now(UTC) + timedelta(seconds=2), **common)
        self.scheduler.add_job(self.reload_tick,
                               IntervalTrigger(seconds=CHECK_EVERY.total_seconds()), id="reload",
                               misfire_grace_time=30, **common)
        for name, cfg in self.config.channels.items():
            if isinstance(cfg, EmailChannel) and cfg.enabled and cfg.schedule.cron:
                trigger = CronTrigger.from_crontab(cfg.schedule.cron,
                                                   timezone=self.config.zone_for(name))
                # A run missed while the bot was down is still made within the grace window.
                self.scheduler.add_job(self.digest_tick, trigger, args=[name],
                                       id=f"digest:{name}",
                                       misfire_grace_time=int(cfg.schedule.grace.total_seconds()),
                                       **common)

    async def poll_tick(self) -> None:
        now = datetime.now(UTC)
        self.last_tick = now
        self.is_leader = await asyncio.to_thread(
            self.store.acquire_lease, POLL_LEASE, self.worker, now=now, until=now + LEASE_TTL)
        if not self.is_leader:
            return
        assert self.fetcher is not None
        try:
            async with self._polling:
                await poll_sources(self.config, self.store, now=now, fetcher=self.fetcher)
        except Exception:  # a bug must not stop the clock; the next tick tries again
            log.exception("polling failed")

    async def dispatch_tick(self) -> None:
        self.last_tick = datetime.now(UTC)
        try:
            async with self._dispatching:
                assert self.dispatcher is not None
                await self.dispatcher.run_once()
        except Exception:
            log.exception("dispatch failed")

    async def reload_tick(self) -> None:
        """Reload config.yaml (and templates) when they changed; see bot/reload.py."""
        if self.reloader is not None:
            await self.reloader.check()

    def request_reload(self) -> None:
        """SIGHUP: reload now, whatever the files' times say."""
        if self.reloader is not None:
            task = asyncio.get_running_loop().create_task(self.reloader.reload())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def apply_config(self, config: Config) -> None:
        """Swap in an already validated configuration: channels, dispatcher, jobs, fetcher."""
        outlets = build_outlets(config, dry_run=self.dry_run)
        dispatcher = make_dispatcher(config, self.store, outlets, dry_run=self.dry_run)
        async with self._dispatching:
            old_outlets, old_config = self.outlets, self.config
            self.config, self.outlets, self.dispatcher = config, outlets, dispatcher
            if self.scheduler is not None:
                for job in self.scheduler.get_jobs():
                    if job.id.startswith("digest:"):
                        job.remove()
                self._add_jobs()
        await close_outlets(old_outlets)
        if config.fetch != old_config.fetch and self.fetcher is not None:
            async with self._polling:
                old_fetcher, self.fetcher = self.fetcher, make_fetcher(config)
                await self.fetcher.__aenter__()
            await old_fetcher.aclose()

    async def digest_tick(self, channel: str) -> None:
        if not self.is_leader:
            return
        try:
            from bot.digest.commands import run_digest
        except ImportError:
            log.warning("digest %s: email digests are not available in this build", channel)
            return
        try:
            await run_digest(self.config, self.store, channel, now=datetime.now(UTC))
        except Exception:
            log.exception("digest %s failed", channel)

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        await close_outlets(self.outlets)
        if self.fetcher is not None:
            await self.fetcher.aclose()
        if self.is_leader:
            self.store.release_lease(POLL_LEASE, self.worker)


async def run_service(config_path: Path, *, dry_run: bool = False,
                      stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives; then shut down cleanly."""
    config = load_config(config_path)
    store = open_store(config.store_url)
    service = Service(config_path, config, store, dry_run=dry_run)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
        loop.add_signal_handler(signal.SIGHUP, service.request_reload)
    await service.start()
    try:
        await stop.wait()
        log.info("stopping: finishing the post in flight, handing back claimed ones")
    finally:
        await service.stop()
        store.close()
