"""``--dry-run``: show what the real run would send, each post once, consuming nothing.

The real dispatcher claims one post at a time and lets the store decide the gap and the cap.
A dry run cannot do that (nothing is recorded as sent, so the same rows would be claimed again
and again), so it asks the planner instead: ``plan.project`` is what ``newsbot plan`` shows,
the order and the times the real run would use with windows, gaps and caps applied. Each due
post is previewed once per process, headed with that time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from bot.channels.preview import PreviewChannel
from bot.errors import TemplateError
from bot.models import DeliveryStatus
from bot.plan import PlannedPost, project
from bot.render import render_post, with_edited_text

if TYPE_CHECKING:
    import jinja2

    from bot.config import Config
    from bot.outlets import Outlet
    from bot.store import Store


class PreviewSource(Protocol):
    """What a dry run reads from the dispatcher (``bot.dispatch.Dispatcher`` is one; it
    calls this module, so this module names only what it uses)."""

    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> Store: ...
    @property
    def outlets(self) -> Mapping[str, Outlet]: ...
    def environment(self) -> jinja2.Environment: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def previewed(self) -> dict[int, datetime | None]: ...  # id → planned at, kept across ticks


class OutcomeTally(Protocol):
    def add(self, outcome: str, error: str = "") -> None: ...

_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.HELD)


def when_label(planned: PlannedPost, zone: ZoneInfo) -> str:
    """"would go Mon 30 Nov 07:10 +03 (gap: 10m after the previous post)"."""
    why = planned.why.value + (f": {planned.detail}" if planned.detail else "")
    if planned.at is None:
        return f"would not go ({why})"
    return f"would go {planned.at.astimezone(zone):%a %d %b %H:%M %Z} ({why})"


def due_in_plan_order(dispatcher: PreviewSource, name: str, now: datetime) -> list[PlannedPost]:
    """The channel's due, pending posts in the order the real run would send them."""
    store = dispatcher.store
    waiting = store.deliveries(statuses=_WAITING, channel=name)
    history = store.channel_history(name, now)
    # A post previewed for a time now past would have been sent by then: it counts against
    # the gap and the cap from that time, as it would in the store.
    gone = {d.id: at for d in waiting
            if (at := dispatcher.previewed.get(d.id)) is not None and at <= now}
    waiting = [d for d in waiting if d.id not in gone]
    history = replace(history, recent=tuple(sorted([*history.recent, *gone.values()],
                                                   reverse=True)))
    planned = project(history, waiting, now, schedule=dispatcher.outlets[name].cfg.schedule,
                      zone=dispatcher.config.zone_for(name))
    return [p for p in planned if p.delivery.status is DeliveryStatus.PENDING
            and p.delivery.due_at <= now]


async def preview_channel(dispatcher: PreviewSource, name: str, report: OutcomeTally) -> None:
    """Preview each due post of ``name`` not previewed yet by this dispatcher."""
    outlet = dispatcher.outlets[name]
    now = dispatcher.clock()
    zone = dispatcher.config.zone_for(name)
    for planned in due_in_plan_order(dispatcher, name, now):
        delivery = planned.delivery
        if delivery.id in dispatcher.previewed:
            continue
        dispatcher.previewed[delivery.id] = planned.at
        article = dispatcher.store.get_article(delivery.article_id)
        try:
            post = with_edited_text(render_post(dispatcher.environment(), article, channel=name,
                                                cfg=outlet.cfg, fmt=outlet.fmt, zone=zone),
                                    delivery.edited_text)
        except TemplateError as exc:
            report.add("template_error", str(exc))
            continue
        if isinstance(outlet.channel, PreviewChannel):
            outlet.channel.show(post, when_label(planned, zone))
        else:
            await outlet.channel.send(post)
        report.add("previewed")
