"""Queue: every channel's waiting posts by day, each with its local due time, why it goes
then (window, gap, cap, budget, held, paused, awaiting approval) and its actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import groupby
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot import editor
from bot.desk import actions
from bot.desk.site import Desk, Visit, back
from bot.plan import PlannedPost


@dataclass(frozen=True)
class QueueRow:
    post: PlannedPost
    channel: str
    zone: ZoneInfo
    title: str
    paused: bool

    @property
    def id(self) -> int:
        return self.post.delivery.id

    @property
    def status(self) -> str:
        return self.post.delivery.status.value

    @property
    def actions(self) -> tuple[str, ...]:
        """The buttons this post gets."""
        return actions.buttons_for(self.post.delivery)


def queue_rows(desk: Desk, visit: Visit, channel: str | None = None) -> list[QueueRow]:
    plans = editor.plan(visit.config, desk.store, now=desk.clock(), channel=channel)
    rows = [QueueRow(p, cp.channel, cp.zone, cp.titles.get(p.delivery.article_id, "?"),
                     cp.paused) for cp in plans for p in cp.posts]
    far = datetime.max.replace(tzinfo=UTC)  # posts with no time (held…) sort last here
    return sorted(rows, key=lambda r: (r.post.at or far, r.channel, r.id))


def by_day(rows: list[QueueRow], zone: ZoneInfo) -> list[tuple[date | None, list[QueueRow]]]:
    """Rows that wait for an editor (no time) first, then by local day."""
    def day(row: QueueRow) -> date | None:
        return row.post.at.astimezone(zone).date() if row.post.at else None

    waiting = [r for r in rows if r.post.at is None]
    timed = [r for r in rows if r.post.at is not None]
    groups: list[tuple[date | None, list[QueueRow]]] = [(None, waiting)] if waiting else []
    groups += [(d, list(g)) for d, g in groupby(timed, key=day)]
    return groups


def routes(desk: Desk) -> list[BaseRoute]:
    @desk.guard()
    async def queue_page(request: Request, visit: Visit) -> Response:
        channel = request.query_params.get("channel") or None
        rows = queue_rows(desk, visit, channel)
        return desk.page("queue", visit, groups=by_day(rows, visit.config.zone),
                         zone=visit.config.zone, channels=list(visit.config.channels),
                         channel=channel or "", count=len(rows),
                         said=request.query_params.get("said", ""),
                         error=request.query_params.get("error", ""))

    @desk.guard()
    async def act(request: Request, visit: Visit) -> Response:
        delivery_id = int(request.path_params["id"])
        action = request.path_params["action"]
        try:
            result = actions.act(desk.store, action, delivery_id, by=visit.who,
                                 now=desk.clock(), wake=desk.hooks.wake_dispatch)
        except (LookupError, ValueError) as exc:
            return back(request, "/desk/", error=str(exc))
        return back(request, "/desk/", flash=f"#{delivery_id} ({result.delivery.channel}): "
                                             f"{result.said}")

    @desk.guard()
    async def reschedule(request: Request, visit: Visit) -> Response:
        delivery_id = int(request.path_params["id"])
        form = await request.form()
        current = desk.store.get_delivery(delivery_id)
        try:
            if current is None:
                raise LookupError(f"no delivery has id {delivery_id}")
            zone = (visit.config.zone_for(current.channel)
                    if current.channel in visit.config.channels else visit.config.zone)
            raw = str(form.get("at", "")).strip()
            try:
                when = datetime.fromisoformat(raw).replace(tzinfo=zone)
            except ValueError:
                raise ValueError(f"{raw!r} is not a date and time; pick one like "
                                 "2026-12-01T09:30") from None
            actions.reschedule(desk.store, delivery_id, when, by=visit.who, now=desk.clock(),
                               wake=desk.hooks.wake_dispatch)
        except (LookupError, ValueError) as exc:
            return back(request, "/desk/", error=str(exc))
        return back(request, "/desk/", flash=f"#{delivery_id}: moved to "
                                             f"{when:%a %d %b %H:%M} ({zone.key})")

    return [Route("/desk/", queue_page, methods=["GET"]),
            Route("/desk/deliveries/{id:int}/reschedule", reschedule, methods=["POST"]),
            Route("/desk/deliveries/{id:int}/{action}", act, methods=["POST"])]
