"""Dispatch: claim due deliveries, render, send, record the outcome. The "do" half of plan/do.

What happens to a failed send is decided by the error's type alone (see bot/errors.py):
retryable errors reschedule the row, permanent ones fail it with the platform's words, and an
unknown outcome is never retried automatically, because a duplicate post is worse than a
missing one. Channels are dispatched concurrently so one dead channel never delays another.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from bot import metrics
from bot.channels.base import EditableChannel
from bot.channels.platform import Budget, month_start, next_month_start
from bot.channels.platform import Pace as PlatformPace
from bot.channels.registry import platform_for
from bot.config import ChannelConfig, Config
from bot.dispatch_report import DispatchReport
from bot.errors import (
    AuthError,
    ChannelError,
    DuplicateContentError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    TemplateError,
    UnknownOutcomeError,
)
from bot.models import Delivery, DeliveryStatus, Receipt, RenderedPost
from bot.outlets import Outlet
from bot.plan import next_send_at, pick_due
from bot.settings import RuntimeSettings

if TYPE_CHECKING:
    import jinja2

    from bot.store import Store

log = logging.getLogger("newsbot.dispatch")

MAX_ATTEMPTS = 8
UNREACHABLE_AFTER = 3  # failed sends in a row, without an answer, before a person is told
_UNREACHABLE_MARK = "unreachable:"
#: How many of a channel's first pending rows ``next_post_at`` plans with: the next post is
#: among the first ones in claim order (priority, then due time).
WAKE_LOOKAHEAD = 20
Clock = Callable[[], datetime]


def platform_pace(cfg: ChannelConfig) -> PlatformPace | None:
    """The platform's own flood limit for one configured channel (None: none), decided in
    the store like the editors' schedule so that it holds across workers; a sender's
    in-process pacer defers to it and adds only what the store cannot see."""
    return platform_for(cfg).pace(cfg)


def utcnow() -> datetime:
    return datetime.now(UTC)


def worker_id() -> str:
    """Names this process in claims and leases (host:pid), so stale claims are traceable."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 1 hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


@dataclass
class Dispatcher:
    """Everything a dispatch pass needs, built once per configuration."""

    config: Config
    store: Store
    outlets: dict[str, Outlet]
    #: The templates' environment; None: built on the first render (``environment``).
    env: jinja2.Environment | None = None
    worker: str = field(default_factory=worker_id)
    clock: Clock = utcnow
    #: How long a claim stays this worker's without news (RuntimeSettings.claim_lease).
    claim_lease: timedelta = RuntimeSettings().claim_lease
    # Under --dry-run nothing is claimed or consumed: bot/dry_run.py previews each due post
    # once, at the time the planner gives it; ``previewed`` remembers which, across ticks.
    dry_run: bool = False
    previewed: dict[int, datetime | None] = field(default_factory=dict)  # id → planned at
    # Set on shutdown: no new claims; the post in flight finishes, claimed ones go back.
    stopping: bool = False
    pace_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # Sends in a row per channel that failed without an answer (connection refused, 5xx):
    # at UNREACHABLE_AFTER the channel is flagged, as a refused token is, so a dead api_url
    # is not left to retry quietly for hours.
    unreachable: Counter[str] = field(default_factory=Counter)

    def environment(self) -> jinja2.Environment:
        """The environment every post renders in, built when a post is first rendered: a
        pass with nothing due (a quiet `newsbot once`) never loads Jinja2 and the templates."""
        if self.env is None:
            from bot.render import make_environment

            self.env = make_environment(self.config)
        return self.env

    async def run_once(self, *, max_per_channel: int = 50) -> DispatchReport:
        """One pass over every channel; returns what happened."""
        now = self.clock()
        _, unknown = self.store.recover_expired(now)
        if unknown:
            log.warning("%d deliveries were being sent when their worker stopped; they are "
                        "marked unknown (see `newsbot status`)", unknown)
        report = DispatchReport()
        names = self.serving()
        if self.dry_run:
            from bot.dry_run import preview_channel

            for name in names:  # one after the other: the output reads channel by channel
                await preview_channel(self, name, report)
            return report
        await asyncio.gather(*(self._channel(n, report, max_per_channel) for n in names))
        return report

    def serving(self) -> list[str]:
        """The channels a pass works on: not paused by an editor, and not held by this
        worker (missing credentials, a failed start-up check), whose posts stay pending:
        nothing is claimed, consumed or failed."""
        states = self.store.channel_states()
        return [n for n, o in self.outlets.items()
                if not (states.get(n) and states[n].paused) and not o.attention]

    def pace_of(self, outlet: Outlet) -> PlatformPace | None:
        """The platform's flood limit for this channel; previews have none."""
        return None if outlet.is_preview else platform_pace(outlet.cfg)

    def next_post_at(self, name: str, now: datetime) -> datetime | None:
        """When the store says ``name``'s next post may go (``now`` or earlier: at once;
        None: nothing is waiting). Reads its first pending rows in claim order and its
        history, as a claim would."""
        outlet = self.outlets[name]
        waiting = self.store.deliveries(statuses=[DeliveryStatus.PENDING], channel=name,
                                        limit=WAKE_LOOKAHEAD)
        if not waiting:
            return None
        if outlet.is_preview:
            return min(d.due_at for d in waiting)
        return next_send_at(self.store.channel_history(name, now), waiting, now,
                            schedule=outlet.cfg.schedule, zone=self.config.zone_for(name),
                            pace=self.pace_of(outlet))

    async def run_channel(self, name: str, *, max_per_channel: int = 50) -> DispatchReport:
        """One pass over one channel, as ``run_once`` makes for each. ``newsbot run`` gives
        every channel passes of its own (bot/dispatch_loop.py), so a channel working off a
        backlog at its platform's pace never holds up another channel's post."""
        report = DispatchReport()
        await self._channel(name, report, max_per_channel)
        return report

    async def _channel(self, name: str, report: DispatchReport, budget: int) -> None:
        outlet = self.outlets[name]
        zone = self.config.zone_for(name)
        # Previews go as fast as they render; real channels one claim at a time so the
        # schedule's gap and cap are re-decided in the store before every post.
        limit = 50 if outlet.is_preview else 1
        pace = self.pace_of(outlet)
        pick = partial(pick_due, schedule=outlet.cfg.schedule, zone=zone, limit=limit,
                       pace=pace)
        if outlet.is_preview:
            pick = partial(_pick_all, limit=limit)
        for _ in range(budget):
            if self.stopping:
                return
            blocked = self.spend_blocked(outlet)
            if blocked:
                log.info("%s: %s", name, blocked)
                report.add("waiting_on_budget")
                return
            # On the event loop, on purpose: the claim and the outcome writes around each send
            # are one short transaction each (about a millisecond). Worst case, SQLite behind
            # a long writer, the loop waits the busy timeout (bot/store/base.py).
            claimed = self.store.claim(name, now=self.clock(), worker=self.worker,
                                       lease=self.claim_lease, pick=pick)
            if not claimed:
                return
            outcome = ""
            for index, delivery in enumerate(claimed):
                if self.stopping:
                    for left in claimed[index:]:
                        self.store.release(left.id, now=self.clock(), worker=self.worker)
                    report.add("released", f"{name}: handed back on shutdown")
                    return
                outcome = await metrics.observe_delivery(
                    name, self.deliver(outlet, delivery, report))
            if pace is not None and pace.min_interval and outcome in ("sent", "unknown"):
                # The store will refuse the next claim until the interval has passed: wait
                # it out here rather than until the next tick (1 post/s, not 1 per tick).
                await self.pace_sleep(pace.min_interval.total_seconds())

    async def deliver(self, outlet: Outlet, delivery: Delivery, report: DispatchReport) -> str:
        """Render and send one claimed delivery; record and return its outcome."""
        store, now, wid = self.store, self.clock(), self.worker
        article = store.get_article(delivery.article_id)
        try:
            note = self.config.corrections.note if delivery.is_correction else ""
            from bot.render import render_post, with_edited_text

            post = render_post(self.environment(), article, channel=outlet.name, cfg=outlet.cfg,
                               fmt=outlet.fmt, zone=self.config.zone_for(outlet.name),
                               note=note)
            post = with_edited_text(post, delivery.edited_text)
        except TemplateError as exc:
            # A broken template is the editors' to fix; the post waits for them, not lost.
            store.mark_retry(delivery.id, str(exc), due_at=now + timedelta(minutes=5), now=now,
                             worker=wid)
            store.update_channel(outlet.name, now=now, attention=str(exc))
            log.error("%s", exc)
            report.add("template_error", str(exc))
            return "template_error"
        over_budget = self._thread_over_budget(outlet, post)
        if over_budget:
            # The pre-claim check priced one post; this one is a thread, billed per part.
            # It waits for next month's budget (never dropped), and the channel's cheaper
            # posts go first meanwhile.
            store.release(delivery.id, now=now, worker=wid, note=over_budget,
                          due_at=next_month_start(now, self.config.zone_for(outlet.name)))
            log.info("%s: delivery %d: %s", outlet.name, delivery.id, over_budget)
            report.add("waiting_on_budget")
            return "waiting_on_budget"
        if not store.mark_sending(delivery.id, worker=wid, now=now, lease=self.claim_lease):
            # Our claim expired (we were stalled) and the row may be another worker's now:
            # sending it here could post it twice.
            log.warning("%s: delivery %d: claim lost before sending; not sent by this worker",
                        outlet.name, delivery.id)
            report.add("claim_lost")
            return "claim_lost"
        try:
            receipt = await self._send_or_edit(outlet, delivery, post)
        except asyncio.CancelledError:
            # Shutdown ran out of patience mid-send: the request may be out, so the outcome
            # is unknown, never retried blindly.
            store.mark_unknown(delivery.id, f"{outlet.name}: stopped while sending; it may have "
                               "been posted", now=self.clock(), worker=wid)
            raise
        except ChannelError as exc:
            return self._record_failure(outlet, delivery, exc, report)
        except Exception as exc:  # a bug, not a platform answer: the post may be out
            log.exception("%s: unexpected error while sending delivery %d", outlet.name,
                          delivery.id)
            store.mark_unknown(delivery.id, f"{outlet.name}: unexpected error: {exc!r}",
                               now=self.clock(), worker=wid)
            report.add("unknown", repr(exc))
            return "unknown"
        done = self.clock()
        if article.image_problem and article.image_url and outlet.fmt.media:
            # The image failed its check at ingest, so this went as text: say why in history.
            receipt = replace(receipt, note="; ".join(
                n for n in (f"sent as text: {article.image_problem}", receipt.note) if n))
        if outlet.is_preview:
            store.set_status(delivery.id, DeliveryStatus.SKIPPED, now=done,
                             allowed_from=[DeliveryStatus.SENDING], note=receipt.note,
                             receipt_url=receipt.url, claimed_by="")
            report.add("previewed")
            return "previewed"
        migrated = receipt.extra.get("migrated_to_chat_id")
        if migrated:
            store.update_channel(outlet.name, now=done, chat_override=str(migrated))
        cost = 0.0 if delivery.is_correction else _price(outlet, (post.text, *post.thread))
        store.mark_sent(delivery.id, receipt, now=done, cost=cost, worker=wid)
        if self.unreachable.pop(outlet.name, 0) >= UNREACHABLE_AFTER:
            # It answers again: the flag this dispatcher raised goes (a person's pause or
            # another flag, e.g. a refused token, is left alone).
            state = store.channel_state(outlet.name)
            if state.attention.startswith(_UNREACHABLE_MARK):
                store.update_channel(outlet.name, now=done, attention="")
        log.info("%s: sent article %d (%s)", outlet.name, article.id,
                 receipt.url or receipt.platform_id)
        report.add("sent")
        return "sent"

    async def _send_or_edit(self, outlet: Outlet, delivery: Delivery,
                            post: RenderedPost) -> Receipt:
        """Send a post, or for a correction edit the sent one in place."""
        if not delivery.is_correction:
            return await outlet.channel.send(post)
        if not isinstance(outlet.channel, EditableChannel):
            # Planned when the channel could edit; its platform cannot any more (config).
            raise PermanentError(outlet.name, "correction not posted: this channel cannot "
                                 "edit a sent post")
        return await outlet.channel.edit(delivery.edit_of, replace(post, thread=()))

    def spend_blocked(self, outlet: Outlet) -> str:
        """Why this channel may not post now for money reasons ("" when it may).

        Checked before every claim with the worst-case price (a post with a URL), so the
        budget is never overshot; posts wait for next month, they are not dropped.
        """
        budget = _budget(outlet)
        if outlet.is_preview or budget is None:
            return ""
        since = month_start(self.clock(), self.config.zone_for(outlet.name))
        _, spent = self.store.spend_since(outlet.name, since)
        if budget_allows(spent, budget.worst_post, budget):
            return ""
        return (f"monthly budget ${budget.monthly:.2f} reached (${spent:.2f} spent this "
                "month); posts wait for next month")

    def _thread_over_budget(self, outlet: Outlet, post: RenderedPost) -> str:
        """Why this rendered post (a thread: each part billed) would overrun the month's
        budget ("" when it fits, or when it is one post, which the pre-claim check priced
        at its worst)."""
        budget = _budget(outlet)
        if outlet.is_preview or not post.thread or budget is None:
            return ""
        price = _price(outlet, (post.text, *post.thread))
        since = month_start(self.clock(), self.config.zone_for(outlet.name))
        _, spent = self.store.spend_since(outlet.name, since)
        if budget_allows(spent, price, budget):
            return ""
        return (f"monthly budget reached: this thread of {len(post.thread) + 1} posts costs "
                f"${price:.2f} and ${max(budget.monthly - spent, 0):.2f} of "
                f"${budget.monthly:.2f} is left; it waits for next month")

    def _record_failure(self, outlet: Outlet, delivery: Delivery, exc: ChannelError,
                        report: DispatchReport) -> str:
        store, now, wid = self.store, self.clock(), self.worker
        message = str(exc)
        if isinstance(exc, DuplicateContentError):
            # The platform already has this exact post: nothing to send, nothing to retry.
            store.mark_sent(delivery.id, _duplicate_receipt(message), now=now, worker=wid)
            outcome = "duplicate"
        elif isinstance(exc, AuthError):
            store.mark_failed(delivery.id, message, now=now, worker=wid)
            store.update_channel(outlet.name, now=now, attention=message)
            outcome = "failed"
        elif isinstance(exc, PermanentError):
            store.mark_failed(delivery.id, message, now=now, worker=wid)
            outcome = "failed"
        elif isinstance(exc, UnknownOutcomeError):
            store.mark_unknown(delivery.id, message, now=now, worker=wid)
            outcome = "unknown"
        elif isinstance(exc, RetryableError):
            attempts = delivery.attempts
            if attempts >= MAX_ATTEMPTS and not isinstance(exc, RateLimitedError):
                store.mark_failed(delivery.id, f"gave up after {attempts} attempts: {message}",
                                  now=now, worker=wid)
                outcome = "failed"
            else:
                wait = (timedelta(seconds=exc.retry_after) if exc.retry_after is not None
                        else backoff(attempts))
                store.mark_retry(delivery.id, message, due_at=now + wait, now=now, worker=wid)
                outcome = "rate_limited" if isinstance(exc, RateLimitedError) else "retry"
            if not isinstance(exc, RateLimitedError) and exc.retry_after is None:
                # No answer (connection refused, 5xx). A deferral with its own wait (the
                # sender's own pacer, a 429) is the platform answering: it does not count.
                self._count_unreachable(outlet, message, now)
        else:
            store.mark_unknown(delivery.id, message, now=now, worker=wid)
            outcome = "unknown"
        log.warning("delivery %d: %s (%s)", delivery.id, message, outcome)
        report.add(outcome, message)
        return outcome


    def _count_unreachable(self, outlet: Outlet, message: str, now: datetime) -> None:
        self.unreachable[outlet.name] += 1
        if self.unreachable[outlet.name] == UNREACHABLE_AFTER:
            api = getattr(outlet.cfg, "api_url", "") or "its server"
            why = (f"{_UNREACHABLE_MARK} {UNREACHABLE_AFTER} sends in a row ({message}); "
                   f"check {api} and the network. Posts keep retrying and the flag clears "
                   "at the next success")
            self.store.update_channel(outlet.name, now=now, attention=why)
            log.error("%s needs attention: %s", outlet.name, why)


def _pick_all(history: object, candidates: list[Delivery], now: datetime, *,
              limit: int) -> list[int]:
    return [d.id for d in candidates[:limit]]


def _duplicate_receipt(message: str) -> Receipt:
    return Receipt(platform_id="", note=f"not posted again: the platform has it already "
                                        f"({message})")


def _price(outlet: Outlet, texts: tuple[str, ...]) -> float:
    """What the platform bills for these posts (0 where posting is free)."""
    price = platform_for(outlet.cfg).price
    return 0.0 if price is None else price(outlet.cfg, texts)


def _budget(outlet: Outlet) -> Budget | None:
    return platform_for(outlet.cfg).budget(outlet.cfg)


# Float sums of prices like 0.015 drift in the last bits; a cent's hundredth is nothing.
_EPSILON = 1e-9


def budget_allows(spent_this_month: float, next_price: float, budget: Budget) -> bool:
    """True when spending ``next_price`` keeps this month within ``budget``."""
    return spent_this_month + next_price <= budget.monthly + _EPSILON
