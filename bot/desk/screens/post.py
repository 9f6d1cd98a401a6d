"""Post: one article and, for each channel that carries it, the post as its readers will see
it, with its length in the platform's unit; a waiting post's text can be edited here. The
edit is checked against the platform (bot.editor.edit_text) before it is stored; a refused
one is shown again with the reason, and nothing is stored."""

from __future__ import annotations

from sqlalchemy.exc import NoResultFound
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from bot.desk import actions
from bot.desk.previews import measure_text, next_digest_html, preview_delivery
from bot.desk.site import Desk, Visit, back, headers
from bot.editor import EditRefused
from bot.errors import NewsbotError


def routes(desk: Desk) -> list[BaseRoute]:
    def article_page(visit: Visit, article_id: int, *, status: int = 200,
                     said: str = "", error: str = "", drafts: dict[int, str] | None = None,
                     refused: dict[int, str] | None = None) -> Response:
        try:
            article = desk.store.get_article(article_id)
        except NoResultFound:
            return desk.page("message", visit, status_code=404, heading="Not found",
                             text=f"There is no article {article_id}.")
        deliveries = desk.store.deliveries_of_article(article_id)
        previews = [preview_delivery(visit.config, article, d) for d in deliveries]
        digests: list[tuple[str, str, int, str]] = []
        for p in previews:
            if p.kind != "email":
                continue
            try:
                html, count = next_digest_html(visit.config, desk.store, p.delivery.channel,
                                               now=desk.clock())
                digests.append((p.delivery.channel, html, count, ""))
            except NewsbotError as exc:
                digests.append((p.delivery.channel, "", 0, str(exc)))
        return desk.page("post", visit, status_code=status, frames=bool(digests), article=article,
                         previews=previews, digests=digests, said=said, error=error,
                         drafts=drafts or {}, refused=refused or {},
                         log=sorted((a for d in deliveries
                                     for a in desk.store.actions(delivery_id=d.id, limit=20)),
                                    key=lambda a: (a.at, a.id), reverse=True))

    @desk.guard()
    async def show(request: Request, visit: Visit) -> Response:
        return article_page(visit, int(request.path_params["id"]),
                            said=request.query_params.get("said", ""),
                            error=request.query_params.get("error", ""))

    @desk.guard()
    async def edit(request: Request, visit: Visit) -> Response:
        delivery_id = int(request.path_params["id"])
        form = await request.form()
        text = str(form.get("text", ""))[:20000]
        current = desk.store.get_delivery(delivery_id)
        if current is None:
            return desk.page("message", visit, status_code=404, heading="Not found",
                             text=f"There is no delivery {delivery_id}.")
        target = f"/desk/articles/{current.article_id}"
        try:
            result = actions.edit(visit.config, desk.store, delivery_id, text, by=visit.who,
                                  now=desk.clock())
        except EditRefused as exc:
            return article_page(visit, current.article_id, status=422,
                                drafts={delivery_id: text}, refused={delivery_id: str(exc)})
        except (LookupError, ValueError) as exc:
            return back(request, target, error=str(exc))
        return back(request, target, flash=f"{result.delivery.channel}: {result.said}")

    @desk.guard()
    async def measure(request: Request, visit: Visit) -> Response:
        """htmx: the count under an edit box, as the editor types."""
        delivery_id = int(request.path_params["id"])
        form = await request.form()
        current = desk.store.get_delivery(delivery_id)
        if current is None or current.channel not in visit.config.channels:
            return HTMLResponse("", headers=headers())
        measured = measure_text(visit.config, desk.store, current, str(form.get("text", "")))
        template = desk.env.get_template("_measure.html.j2")
        return HTMLResponse(template.render(m=measured), headers=headers())

    return [Route("/desk/articles/{id:int}", show, methods=["GET"]),
            Route("/desk/deliveries/{id:int}/edit", edit, methods=["POST"]),
            Route("/desk/deliveries/{id:int}/measure", measure, methods=["POST"])]
