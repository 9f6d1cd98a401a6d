"""History: what was sent, failed, skipped or is unknown, newest first, by channel and day,
with the link to the live post and the platform's own words when it refused one."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.desk.site import Desk, Visit

FINISHED = ("sent", "failed", "skipped", "unknown")


def routes(desk: Desk) -> list[BaseRoute]:
    @desk.guard()
    async def history_page(request: Request, visit: Visit) -> Response:
        channel = request.query_params.get("channel") or None
        status = request.query_params.get("status") or ""
        raw_day = request.query_params.get("day") or ""
        zone = visit.config.zone
        since = until = None
        error = ""
        if raw_day:
            try:
                day = date.fromisoformat(raw_day)
                since = datetime.combine(day, time(0), zone)
                until = datetime.combine(day + timedelta(days=1), time(0), zone)
            except ValueError:
                error = f"{raw_day!r} is not a day; pick one like 2026-12-01"
        statuses = (status,) if status in FINISHED else FINISHED
        rows = desk.store.history_page(statuses=statuses, channel=channel, since=since,
                                       until=until)
        titles = {a: art.title for a, art in desk.store.get_articles(
            [d.article_id for d in rows]).items()}
        channels = sorted({*visit.config.channels, *desk.store.counts_by_status()})
        return desk.page("history", visit, rows=rows, titles=titles, channels=channels,
                         channel=channel or "", status=status, day=raw_day, zone=zone,
                         statuses=FINISHED, error=error)

    return [Route("/desk/history", history_page, methods=["GET"])]
