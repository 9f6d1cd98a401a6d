"""``newsbot run``: APScheduler as the clock, and nothing more.

Jobs (poll tick, dispatch tick, one cron per digest) are rebuilt from config.yaml at start;
all state lives in the store, never in APScheduler's job store, so a restart loses nothing.
Only the holder of the "poll" lease polls sources and builds digests, so several workers on
one PostgreSQL store never poll twice; a SQLite store is one process's alone (bot.runlock).
On SIGTERM or SIGINT no new work starts, the jobs in progress get ``shutdown_grace`` to
finish (a post in flight records its outcome), and whatever this worker still holds goes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Config, EmailChannel, Source
from bot.dispatch import Dispatcher, worker_id
from bot.dispatch_loop import DispatchLoop
from bot.errors import StoreError
from bot.ingest.fetch import Fetcher
from bot.ingest.parsebudget import polling, start_early, sure_bodies
from bot.ingest.poll import due_sources, make_fetcher, poll_source
from bot.ingest.pollwriter import PollWriter
from bot.models import DeliveryStatus
from bot.operations import make_dispatcher, preview_digests
from bot.outlets import (
    Outlet,
    build_outlets,
    channel_views,
    close_outlets,
    missing_credentials_attention,
    preview_reason,
)
from bot.reload import CHECK_EVERY, Reloader
from bot.scheduler_log import SchedulerLog
from bot.settings import RuntimeSettings
from bot.store import ChannelView, SourceState, Store

if TYPE_CHECKING:
    from bot.desk.hooks import BotHooks

log = logging.getLogger("newsbot.run")
POLL_LEASE = "poll"
POLL_TICK = timedelta(seconds=15)
DIGEST_CATCH_UP = timedelta(minutes=5)


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
    dispatch_loop: DispatchLoop | None = None
    # A reload swaps channels only between passes, never under a send.
    _dispatching: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Each source's poll runs on its own (source id → task), so a source whose pages are slow
    # holds up nobody else's new items; a tick starts only the sources not already polling.
    _source_polls: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _poll_writer: PollWriter | None = None  # the polls that finish together, stored together
    _desk_chat: asyncio.Task[None] | None = None  # the Telegram control chat (bot.desk)
    settings: RuntimeSettings = field(default_factory=RuntimeSettings)
    _jobs: set[asyncio.Task[Any]] = field(default_factory=set)  # in progress: stop() waits
    _web: Any = None  # the embedded uvicorn server, when web.enabled
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    check_at_start: bool = True  # the platforms' online checks (off in some tests)
    held: dict[str, str] = field(default_factory=dict)  # channel → why this worker holds it

    @contextlib.contextmanager
    def _job(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._jobs.discard(task)

    async def start(self) -> None:
        self.fetcher = make_fetcher(self.config)
        await self.fetcher.__aenter__()
        self._build_channels()
        await self._check_channels()
        self.scheduler = AsyncIOScheduler(
            timezone=self.config.zone,
            logger=SchedulerLog(logging.getLogger("apscheduler.scheduler"), {}))
        self.reloader = Reloader(self)
        self._add_jobs()
        # Dispatch is not an interval tick: each channel goes when the store says one of its
        # posts may (bot/dispatch_loop.py), and at once when a poll created deliveries. The
        # clock starts that loop, 2 s in, so a paused scheduler (tests) dispatches nothing.
        self.scheduler.add_job(self._start_dispatching, "date", id="dispatch",
                               run_date=datetime.now(UTC) + timedelta(seconds=2),
                               misfire_grace_time=None)
        self.scheduler.start()
        hooks = self._desk_hooks()
        if self.config.web.enabled:
            await self._start_web(hooks)
        from bot.desk.control_chat import start_control_chat

        self._desk_chat = start_control_chat(self, hooks)  # idles unless desk.telegram is set
        for name, outlet in self.outlets.items():
            if outlet.is_preview:
                log.warning("channel %s is in preview mode: %s; posts are written to %s",
                            name, outlet.preview_reason, self.config.preview_dir)
            elif outlet.attention:
                log.error("channel %s needs attention and sends nothing: %s", name,
                          outlet.attention)
        for name, cfg in self.config.channels.items():
            held = "" if self.dry_run or name in self.outlets or not cfg.enabled else \
                missing_credentials_attention(self.config, name)
            if held:  # a digest: it is not an outlet, but is held the same way
                log.error("channel %s needs attention and sends nothing: %s", name, held)
        try:
            await asyncio.to_thread(self.beat)
        except StoreError as exc:  # the next poll tick beats again
            log.warning("heartbeat not recorded: %s", exc)
        log.info("newsbot is running as %s: %d sources, %d channels", self.worker,
                 len(self.config.sources), len(self.config.channels))

    async def _check_channels(self) -> None:
        """Ask each live channel's platform whether its credentials and target work (the
        checks of `newsbot check --online`). A channel the platform refuses is held, needs
        attention, and keeps its posts, rather than failing every one of them; one that
        does not answer stays live (dispatch retries, and flags it after repeated failures)."""
        if self.dry_run or not self.check_at_start:
            return
        from bot.channels.online import check_channels

        live = [n for n, c in self.config.channels.items() if c.enabled
                and not preview_reason(self.config, n, dry_run=False)
                and not (n in self.outlets and self.outlets[n].attention)]
        if not live:
            return
        for name, result in (await check_channels(self.config, live)).items():
            if result.ok:
                log.info("channel %s: %s", name, result.message)
            elif not result.blocking:
                log.warning("channel %s: start-up check: %s", name, result.message)
            else:
                why = f"start-up check failed: {result.message}; fix it and restart"
                log.error("channel %s needs attention and sends nothing: %s", name, why)
                self.held[name] = why
                if name in self.outlets:
                    await self.outlets[name].channel.close()
                    self.outlets[name] = replace(self.outlets[name], attention=why)

    def _build_channels(self) -> None:
        self.outlets = build_outlets(self.config, dry_run=self.dry_run,
                                     hold_without_credentials=True)
        self.dispatcher = make_dispatcher(self.config, self.store, self.outlets,
                                          dry_run=self.dry_run, settings=self.settings)

    def _add_jobs(self) -> None:
        assert self.scheduler is not None
        common: dict[str, Any] = {"coalesce": True, "max_instances": 1, "replace_existing": True}
        # The leader renews its lease on every tick, so a tick comes well within the TTL.
        tick = min(POLL_TICK, self.settings.lease_ttl / 3).total_seconds()
        self.scheduler.add_job(self.poll_tick, IntervalTrigger(seconds=tick),
                               id="poll", misfire_grace_time=30, next_run_time=datetime.now(UTC),
                               **common)
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
                # APScheduler keeps no job store, so a run missed while the bot was down, or
                # one cut off by a crash, is found by asking the store: run_digest is
                # idempotent ("not-due", "done-already") and resumes an interrupted run.
                self.scheduler.add_job(self.digest_tick, IntervalTrigger(
                    seconds=DIGEST_CATCH_UP.total_seconds()), args=[name, True],
                    id=f"digest-catch-up:{name}", misfire_grace_time=60,
                    next_run_time=datetime.now(UTC) + POLL_TICK + timedelta(seconds=5), **common)
                # (and at once when this worker becomes the leader: _catch_up_digests)

    def _catch_up_digests(self, channel: str | None = None,
                          after: timedelta = timedelta(0)) -> None:
        """Look for a digest to send or to resume ``after`` from now (every channel's, or
        ``channel``'s), not at the next catch-up tick. A worker that has just become the
        leader does it at once; a run whose lease a dead worker still holds is tried again
        when that lease runs out. So a run a crash cut off resumes within about a lease."""
        assert self.scheduler is not None
        when = datetime.now(UTC) + after
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest-catch-up:") and (
                    channel is None or job.id == f"digest-catch-up:{channel}"):
                job.modify(next_run_time=when)

    async def poll_tick(self) -> None:
        with self._job():
            await self._poll()

    async def _poll(self) -> None:
        now = datetime.now(UTC)
        self.last_tick = now
        was_leader = self.is_leader
        try:
            self.is_leader = await asyncio.to_thread(
                self.store.acquire_lease, POLL_LEASE, self.worker, now=now,
                until=now + self.settings.lease_ttl)
        except StoreError as exc:  # not knowing, this worker must not poll as the leader
            self.is_leader = False
            log.error("poll: %s; no polling until the store answers", exc)
        if self.is_leader != was_leader:
            log.info("%s %s the poll lease", self.worker, "holds" if self.is_leader else "lost")
        try:
            await asyncio.to_thread(self.beat)
        except StoreError as exc:  # a heartbeat is never worth more than a line in the log
            log.warning("heartbeat not recorded: %s", exc)
        except Exception:  # a bug must not stop the clock
            log.exception("heartbeat not recorded")
        if not self.is_leader:
            return
        if not was_leader:
            self._catch_up_digests()
        # A source still polling while the states are read may finish before they arrive:
        # its state read is then older than its poll, so it waits for the next tick.
        busy = set(self._source_polls)
        try:
            # The sources' states in one query, for choosing the due ones and for each poll
            # (each read its own before: one query a source at every tick).
            states = await asyncio.to_thread(self.store.source_states)
            due = due_sources(self.config, self.store, now=now, states=states)
        except StoreError as exc:
            log.error("poll: %s", exc)
            return
        except Exception:  # a bug must not stop the clock; the next tick tries again
            log.exception("polling failed")
            return
        due = [s for s in due if s.id not in busy and s.id not in self._source_polls]
        # A round with many feeds that cannot answer 304 (the first after start, on a new
        # store) starts the parser process before their bodies arrive (parsebudget.py).
        start_early(sure_bodies(due, states))
        for source in due:
            state = states.get(source.id, SourceState(source.id))
            task = asyncio.create_task(self._poll_source(source, now, state),
                                       name=f"poll:{source.id}")
            self._source_polls[source.id] = task
            task.add_done_callback(self._forget_poll)

    def _forget_poll(self, task: asyncio.Task[Any]) -> None:
        for source_id, running in list(self._source_polls.items()):
            if running is task:
                del self._source_polls[source_id]

    async def _poll_source(self, source: Source, now: datetime, state: SourceState) -> None:
        """One source's poll, on its own: it ends by the source's deadline (bot/ingest/poll.py)
        and the ticks meanwhile go on polling the others. ``state``: as the tick read it."""
        assert self.fetcher is not None
        with self._job(), polling(1):
            try:
                if self._poll_writer is None:
                    self._poll_writer = PollWriter(self.store)
                report = await poll_source(source, config=self.config, store=self.store,
                                           fetcher=self.fetcher, now=now, state=state,
                                           writer=self._poll_writer)
                if report.deliveries and self.dispatch_loop is not None:
                    self.dispatch_loop.poke()  # due at once: posted now, not at a tick
            except StoreError as exc:  # its items are fetched again at the next poll
                log.error("polling %s: %s", source.id, exc)
            except Exception:  # a bug must not stop the clock; the next tick tries again
                log.exception("polling %s failed", source.id)

    def views(self) -> dict[str, ChannelView]:
        """How this worker runs each channel right now (live, preview, paused, needs
        attention), read by /healthz and recorded in the store by ``beat``."""
        return channel_views(self.config, self.outlets, self.store.channel_states(),
                             dry_run=self.dry_run, held=self.held)

    def beat(self) -> None:
        """Record this worker's heartbeat and channel views, for `newsbot status`."""
        self.store.heartbeat(self.worker, now=datetime.now(UTC), channels=self.views(),
                             started_at=self.started_at)

    async def _start_dispatching(self) -> None:
        if self.dispatch_loop is None:
            self.dispatch_loop = DispatchLoop(
                lambda: self.dispatcher, job=self._job, on_wake=self._ticked,
                every=lambda: max(1.0, self.config.dispatch_every.total_seconds()))
            self.dispatch_loop.start()

    def _ticked(self) -> None:
        self.last_tick = datetime.now(UTC)

    def _desk_hooks(self) -> BotHooks:
        """What the desk (its pages, the control chat) may ask of this bot: an editor's
        approve or post-now wakes the dispatch loop, so the post goes now rather than at
        the loop's next wake (up to dispatch_every); a schedule saved there is reloaded now."""
        from bot.desk.hooks import BotHooks, on_loop

        loop = asyncio.get_running_loop()
        return BotHooks(wake_dispatch=on_loop(loop, self._wake_dispatch),
                        check_config=on_loop(loop, self._check_config_now))

    def _wake_dispatch(self) -> None:
        if self.dispatch_loop is not None:  # not started yet: its first wake asks anyway
            self.dispatch_loop.poke()

    def _check_config_now(self) -> None:
        # check(), not reload(): it notes the file as seen, so the watcher's next look
        # does not reload it a second time.
        task = asyncio.get_running_loop().create_task(self.reload_tick())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def dispatch_tick(self) -> None:
        """One pass over every channel now (``newsbot run`` itself uses ``dispatch_loop``)."""
        self.last_tick = datetime.now(UTC)
        try:
            with self._job():
                async with self._dispatching:
                    assert self.dispatcher is not None
                    await self.dispatcher.run_once()
        except StoreError as exc:  # the rows stay as the store last had them
            log.error("dispatch: %s", exc)
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
        outlets = build_outlets(config, dry_run=self.dry_run, hold_without_credentials=True)
        for name, why in self.held.items():  # the start-up check's verdict stands
            if name in outlets and not outlets[name].is_preview:
                await outlets[name].channel.close()
                outlets[name] = replace(outlets[name], attention=why)
        dispatcher = make_dispatcher(config, self.store, outlets, dry_run=self.dry_run,
                                     settings=self.settings)
        async with self._dispatching:
            if self.dispatch_loop is not None:
                await self.dispatch_loop.settle()  # each channel's post in flight finishes
            old_outlets, old_config = self.outlets, self.config
            self.config, self.outlets, self.dispatcher = config, outlets, dispatcher
            if self.dispatch_loop is not None:
                self.dispatch_loop.resume()
            if self.scheduler is not None:
                for job in self.scheduler.get_jobs():
                    if job.id.startswith("digest:"):
                        job.remove()
                self._add_jobs()
        await close_outlets(old_outlets)
        if config.fetch != old_config.fetch and self.fetcher is not None:
            old_fetcher, self.fetcher = self.fetcher, make_fetcher(config)
            await self.fetcher.__aenter__()
            # Polls in progress finish on the fetcher they started with (by their deadline).
            polling = list(self._source_polls.values())
            task = asyncio.create_task(_close_after(old_fetcher, polling), name="fetcher-close")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def digest_tick(self, channel: str, catch_up: bool = False) -> None:
        if not self.is_leader or channel in self.held:
            return
        reason = preview_reason(self.config, channel, dry_run=self.dry_run)
        if reason:
            if not catch_up:  # at the cron time only
                await asyncio.to_thread(self._preview_digest, channel, reason)
            return
        try:
            from bot.digest.commands import run_digest
        except ImportError:
            log.warning("digest %s: email digests are not available in this build", channel)
            return
        try:
            with self._job():
                outcome = await run_digest(self.config, self.store, channel,
                                           now=datetime.now(UTC),
                                           lease_ttl=self.settings.lease_ttl)
            if outcome.status == "busy":
                self._catch_up_digests(channel, after=self.settings.lease_ttl / 2)
        except StoreError as exc:  # the catch-up tick resumes the run when the store answers
            log.error("digest %s: %s", channel, exc)
        except Exception:
            log.exception("digest %s failed", channel)

    def _preview_digest(self, channel: str, reason: str) -> None:
        """A digest that cannot send (no SMTP host, preview: true, --dry-run) is written to
        the preview folder at its cron time. Its articles are consumed (recorded as
        previewed, so the next one is new) only where an editor asked for previews
        (preview: true); one that lacks its SMTP settings keeps them for when they are set."""
        now = datetime.now(UTC)
        written = preview_digests(self.config, self.store, now=now, dry_run=self.dry_run,
                                  channels=[channel])
        consume = not self.dry_run and self.config.channels[channel].preview
        for name, eml, count in written:
            log.warning("digest %s is not sent (%s): the %d articles it would carry are "
                        "written to %s%s", name, reason, count, eml,
                        "" if consume else "; they wait for the next digest that can send")
        if not consume or not written:
            return
        for delivery_id, _ in self.store.pending_digest_deliveries(channel, now):
            self.store.set_status(delivery_id, DeliveryStatus.SKIPPED, now=now,
                                  allowed_from=[DeliveryStatus.PENDING],
                                  note=f"digest preview only, not sent: {reason}")

    async def _start_web(self, hooks: BotHooks) -> None:
        from bot.web.server import start_pages

        def current() -> Service:
            return self

        self._web, task = start_pages(self.config, self.store, current,
                                      config_path=self.config_path, desk_hooks=hooks)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop_web(self) -> None:
        if self._web is not None:
            self._web.should_exit = True
            await asyncio.sleep(0)

    async def stop(self, grace: timedelta | None = None) -> None:
        """Start nothing new, let the jobs in progress finish (up to ``grace``; then they
        are cancelled and a post cut off mid-send is marked unknown), hand back claims."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()  # shutdown() would cancel the running jobs outright
        if self.dispatch_loop is not None:
            await self.dispatch_loop.stop()  # no new pass; the ones in progress are jobs
        if self.dispatcher is not None:
            self.dispatcher.stopping = True
        running = [t for t in self._jobs if not t.done()]
        if running:
            wait = (grace if grace is not None else self.settings.shutdown_grace).total_seconds()
            log.info("stopping: waiting up to %.0fs for %d job(s) in progress", wait,
                     len(running))
            _, late = await asyncio.wait(running, timeout=wait)
            for task in late:
                task.cancel()
            if late:
                log.warning("stopping: %d job(s) did not finish in %.0fs; cancelled",
                            len(late), wait)
                await asyncio.gather(*late, return_exceptions=True)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self._stop_web()
        from bot.desk.control_chat import stop_control_chat

        await stop_control_chat(self._desk_chat)
        await close_outlets(self.outlets)
        if self.fetcher is not None:
            await self.fetcher.aclose()
        released, unknown = self.store.release_claims(self.worker, now=datetime.now(UTC))
        if released or unknown:
            log.info("stopping: handed back %d claimed deliveries; %d cut off mid-send are "
                     "marked unknown", released, unknown)
        if self.is_leader:
            self.store.release_lease(POLL_LEASE, self.worker)
        with contextlib.suppress(Exception):  # the store may be what stopped us
            self.store.forget_worker(self.worker)


async def _close_after(fetcher: Fetcher, polls: list[asyncio.Task[Any]]) -> None:
    if polls:
        await asyncio.wait(polls)
    await fetcher.aclose()
