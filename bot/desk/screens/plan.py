"""Plan: the week ahead, per channel: the ``newsbot plan`` view (bot.editor.plan) as a page,
with each channel's schedule in words."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot import editor
from bot.desk.site import Desk, Visit

WEEK = timedelta(days=7)


def routes(desk: Desk) -> list[BaseRoute]:
    @desk.guard()
    async def plan_page(request: Request, visit: Visit) -> Response:
        from bot.cli.format import describe_schedule

        now = desk.clock()
        plans = editor.plan(visit.config, desk.store, now=now)
        horizon = now + WEEK
        shown = []
        for cp in plans:
            cfg = visit.config.channels.get(cp.channel)
            posts = [p for p in cp.posts if p.at is None or p.at <= horizon]
            later = len(cp.posts) - len(posts)
            shown.append((cp, describe_schedule(cfg.schedule) if cfg else "removed", posts,
                          later))
        return desk.page("plan", visit, plans=shown)

    return [Route("/desk/plan", plan_page, methods=["GET"])]
