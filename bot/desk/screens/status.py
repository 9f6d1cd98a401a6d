"""Sources and channels: each source's health (last poll, errors, back-off), each channel's
state (live or preview, paused, needs attention) with pause/resume, X spend against the
monthly budget, the digests' recent runs and subscriber counts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.config import EmailChannel
from bot.desk import actions
from bot.desk.site import Desk, Visit, back


def routes(desk: Desk) -> list[BaseRoute]:
    @desk.guard()
    async def status_page(request: Request, visit: Visit) -> Response:
        from bot.operations import status

        view = status(visit.config, desk.store)
        digests = [(name, desk.store.digest_runs(name, limit=5))
                   for name, cfg in visit.config.channels.items()
                   if isinstance(cfg, EmailChannel)]
        return desk.page("status", visit, view=view, digests=digests,
                         subscribers=desk.store.count_subscribers(), zone=visit.config.zone,
                         said=request.query_params.get("said", ""),
                         error=request.query_params.get("error", ""))

    @desk.guard()
    async def pause(request: Request, visit: Visit) -> Response:
        name = request.path_params["name"]
        if request.path_params["what"] not in ("pause", "resume"):
            return back(request, "/desk/status", error="unknown action")
        paused = request.path_params["what"] == "pause"
        try:
            actions.pause(visit.config, desk.store, name, paused=paused, by=visit.who,
                          now=desk.clock(), wake=desk.hooks.wake_dispatch)
        except (LookupError, ValueError) as exc:
            return back(request, "/desk/status", error=str(exc))
        return back(request, "/desk/status",
                    flash=f"{name}: {'paused' if paused else 'resumed'}")

    return [Route("/desk/status", status_page, methods=["GET"]),
            Route("/desk/channels/{name}/{what:str}", pause, methods=["POST"])]
