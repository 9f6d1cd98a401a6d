"""The operations the CLI and the scheduler share: one cycle, the digest previews, status.

Each is a plain function over (config, store) so tests call exactly what users run. The
pipeline (ingest, dispatch, outlets, render) is imported by the functions that run it, so
``newsbot status`` loads only the config and the store.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.channels.platform import month_start
from bot.channels.registry import platform_for
from bot.config import Config, EmailChannel
from bot.models import Delivery, DeliveryStatus
from bot.settings import RuntimeSettings
from bot.store import ChannelState, SourceState, WorkerView

if TYPE_CHECKING:
    from bot.dispatch import Dispatcher
    from bot.dispatch_report import DispatchReport
    from bot.ingest.poll import PollReport
    from bot.outlets import Outlet
    from bot.store import Store
    from bot.store.light import CycleStore, StatusStore

log = logging.getLogger("newsbot")


DRAIN_PAUSE = timedelta(seconds=1.1)
DRAIN_LIMIT = timedelta(minutes=2)


def report_sent(report: DispatchReport) -> int:
    return report.outcomes["sent"] + report.outcomes["duplicate"]


@dataclass(frozen=True)
class CycleReport:
    polls: tuple[PollReport, ...]
    dispatch: DispatchReport
    previews: dict[str, str]  # channel → why it is only previewed
    digests: tuple[tuple[str, Path, int], ...] = ()  # previewed digests: channel, .eml, articles

    @property
    def failed_posts(self) -> int:
        """Posts that failed, or whose outcome is unknown, or whose template broke."""
        outcomes = self.dispatch.outcomes
        return outcomes["failed"] + outcomes["unknown"] + outcomes["template_error"]


def make_dispatcher(config: Config, store: Store, outlets: dict[str, Outlet], *,
                    dry_run: bool = False, settings: RuntimeSettings | None = None
                    ) -> Dispatcher:
    from bot.dispatch import Dispatcher

    settings = settings or RuntimeSettings()
    # The templates' environment is built on the first render (Dispatcher.environment).
    return Dispatcher(config=config, store=store, outlets=outlets, dry_run=dry_run,
                      claim_lease=settings.claim_lease)


async def run_cycle(config: Config, store: CycleStore, *, dry_run: bool = False,
                    echo: TextIO | None = None, now: datetime | None = None,
                    only_due: bool = False,
                    settings: RuntimeSettings | None = None,
                    states: Mapping[str, SourceState] | None = None) -> CycleReport:
    """Poll the sources, then dispatch everything that is due: ``newsbot once``. The full
    store is opened only for work (``CycleStore``): a cycle whose feeds have nothing new and
    whose outbox has nothing due never opens it. ``states``: the sources' states if the
    caller has just read them (``poll_sources``)."""
    from bot.dispatch_report import DispatchReport
    from bot.ingest.poll import make_fetcher, poll_sources
    from bot.outlets import build_outlets, close_outlets, post_channels, preview_reason

    now = now or datetime.now(UTC)
    async with make_fetcher(config) as fetcher:
        polls = await poll_sources(config, store, now=now, fetcher=fetcher, only_due=only_due,
                                   states=states)
    channels = post_channels(config)
    # One cheap question first: with no due post on these channels and no lapsed claim to
    # recover, a pass would claim, recover and send nothing, so no channel is even built (a
    # platform's sender may load its client library: a tenth of a second or more). The
    # dispatcher's clock is the wall clock: the question is asked for the time the pass
    # would run at.
    if store.has_dispatch_work(channels, datetime.now(UTC)):
        outlets = build_outlets(config, dry_run=dry_run, echo=echo)
        try:
            report = await _dispatch(config, store.full(), outlets, dry_run=dry_run,
                                     settings=settings)
        finally:
            await close_outlets(outlets)
        previews = {name: o.preview_reason for name, o in outlets.items() if o.is_preview}
    else:
        report = DispatchReport()
        previews = {name: reason for name in channels
                    if (reason := preview_reason(config, name, dry_run=dry_run))}
    digests = preview_digests(config, store, now=now, dry_run=dry_run)
    for name, _, _ in digests:
        previews[name] = preview_reason(config, name, dry_run=dry_run)
    return CycleReport(tuple(polls), report, previews, digests)


async def _dispatch(config: Config, store: Store, outlets: dict[str, Outlet], *,
                    dry_run: bool, settings: RuntimeSettings | None) -> DispatchReport:
    """Dispatch passes until nothing more goes (or DRAIN_LIMIT)."""
    dispatcher = make_dispatcher(config, store, outlets, dry_run=dry_run, settings=settings)
    report = await dispatcher.run_once()
    # Platform pacing (e.g. one post a second per chat) lets one post per channel through a
    # pass; keep passing while posts still go, so `once` sends all that is due.
    deadline = asyncio.get_running_loop().time() + DRAIN_LIMIT.total_seconds()
    while report_sent(report) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(DRAIN_PAUSE.total_seconds())
        more = await dispatcher.run_once()
        if not report_sent(more):
            break
        report.outcomes.update(more.outcomes)
        report.errors.extend(more.errors)
    return report


def preview_digests(config: Config, store: CycleStore, *, now: datetime,
                    dry_run: bool = False,
                    channels: Sequence[str] | None = None) -> tuple[tuple[str, Path, int], ...]:
    """For digest channels that cannot send (no SMTP host, or --dry-run), write the next
    digest as it stands to the preview folder, so a newcomer sees the round-up too.
    Digests are sent only by their cron (``newsbot run``), never by ``once``."""
    from bot.outlets import preview_reason

    written = []
    for name, cfg in config.channels.items():
        if not isinstance(cfg, EmailChannel) or not cfg.enabled:
            continue
        if channels is not None and name not in channels:
            continue
        if not preview_reason(config, name, dry_run=dry_run):
            continue
        # Imported for a digest to preview only: the digest's mail stack is a tenth of a
        # second of `newsbot once` that a config without one never needs.
        from bot.digest.commands import digest_preview

        eml, _, count = digest_preview(config, store.full(), name,
                                       config.resolve_path(config.preview_dir) / name, now=now)
        if count:
            written.append((name, eml, count))
        else:
            eml.unlink(missing_ok=True)
            eml.with_suffix(".html").unlink(missing_ok=True)
    return tuple(written)


@dataclass(frozen=True)
class SourceActivity:
    """When a source last gave a new article, and whether it has gone quiet for long."""

    last_new: datetime | None
    usual_gap: timedelta | None  # the median time between its articles' publication
    silent_for: timedelta | None = None  # set when over SILENCE_FACTOR × usual_gap


#: A source quiet for this many times its usual gap between articles is flagged.
SILENCE_FACTOR = 3


def source_activity(last_new: datetime | None, published: Sequence[datetime],
                    now: datetime) -> SourceActivity:
    """From a source's newest publication times (newest first): is it unusually silent?
    Judged only with 5 or more articles; a gap of 0 (a batch) says nothing about rhythm."""
    gaps = sorted(g for g in (a - b for a, b in itertools.pairwise(published))
                  if g > timedelta(0))
    usual = gaps[len(gaps) // 2] if len(published) >= 5 and gaps else None
    if last_new is None or usual is None:
        return SourceActivity(last_new, usual)
    quiet = now - last_new
    return SourceActivity(last_new, usual, quiet if quiet > SILENCE_FACTOR * usual else None)


@dataclass(frozen=True)
class StatusView:
    sources: tuple[tuple[str, SourceState], ...]
    # name, mode (as the running workers see it), state, counts
    channels: tuple[tuple[str, str, ChannelState, dict[str, int]], ...]
    unknown: tuple[Delivery, ...]
    removed_channels: tuple[tuple[str, dict[str, int]], ...]
    spend: tuple[tuple[str, int, float, float | None], ...] = ()  # billed: posts, $, budget
    reload_error: str = ""  # the running bot refused config.yaml as it is now (bot/reload.py)
    workers: tuple[WorkerView, ...] = ()  # `newsbot run` workers seen within WORKER_STALE
    activity: dict[str, SourceActivity] = field(default_factory=dict)  # by source id


def channel_mode(name: str, workers: Sequence[WorkerView]) -> str:
    """How the running workers run a channel, from their heartbeats (not from this
    process's environment: a shell without the bot's secrets would say "preview")."""
    if not workers:
        return "no worker running"
    seen: dict[str, list[str]] = {}
    for worker in workers:
        view = worker.channels.get(name)
        text = "not in its config" if view is None else (
            view.mode + (f" ({view.why})" if view.why and view.mode != "paused" else ""))
        seen.setdefault(text, []).append(worker.worker)
    if len(seen) == 1:
        return next(iter(seen))
    return "; ".join(f"{', '.join(names)}: {text}" for text, names in seen.items())


def status(config: Config, store: StatusStore, *, now: datetime | None = None) -> StatusView:
    """Sources with their last poll, last new article and silence; channels with their
    deliveries by state, as the running workers see them."""
    now = now or datetime.now(UTC)
    counts = store.counts_by_status()
    states = store.channel_states()
    workers = tuple(store.live_workers(now))
    channels = []
    for name, cfg in config.channels.items():
        mode = channel_mode(name, workers) if cfg.enabled else "disabled"
        channels.append((name, mode, states.get(name, ChannelState(name)), counts.get(name, {})))
    removed = tuple((n, c) for n, c in counts.items() if n not in config.channels)
    sources = tuple((s.id, store.source_state(s.id)) for s in config.sources)
    activity = {s.id: source_activity(*store.source_rhythm(s.id), now)
                for s in config.sources}
    unknown = tuple(store.deliveries(statuses=[DeliveryStatus.UNKNOWN]))
    spend = []
    for name, cfg in config.channels.items():
        if isinstance(cfg, EmailChannel) or platform_for(cfg).price is None:
            continue
        posts, dollars = store.spend_since(name, month_start(now, config.zone_for(name)))
        budget = platform_for(cfg).budget(cfg)
        spend.append((name, posts, dollars, budget.monthly if budget else None))
    from bot.reload import rejected_reload

    return StatusView(sources, tuple(channels), unknown, removed, tuple(spend),
                      rejected_reload(config.base_dir), workers, activity)

