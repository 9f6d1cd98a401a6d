"""Schedule (admins): each post channel's windows, quiet days, gap, caps, delay and priority
in a form, written back to config.yaml (bot.desk.schedule_file). The running bot's hot reload
picks the file up within seconds; a refused edit changes nothing and says why, with the YAML
path; a form drawn from an older file is refused."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.desk.schedule_file import FIELDS, StaleForm, read_fields, save_schedule, text_hash
from bot.desk.site import Desk, Visit, back
from bot.errors import ConfigError


def routes(desk: Desk) -> list[BaseRoute]:
    def form_page(visit: Visit, *, status: int = 200, said: str = "",
                  errors: dict[str, str] | None = None,
                  drafts: dict[str, dict[str, str]] | None = None) -> Response:
        text = desk.config_path.read_text(encoding="utf-8")
        fields = read_fields(text)
        for f in fields:
            f.values.update((drafts or {}).get(f.channel, {}))
        return desk.page("schedule", visit, status_code=status, fields=fields,
                         file_hash=text_hash(text), said=said, errors=errors or {},
                         path=str(desk.config_path.name))

    @desk.guard("admin")
    async def show(request: Request, visit: Visit) -> Response:
        return form_page(visit, said=request.query_params.get("said", ""))

    @desk.guard("admin")
    async def save(request: Request, visit: Visit) -> Response:
        channel = request.path_params["name"]
        form = await request.form()
        values = {key: str(form.get(key, ""))[:2000] for key in FIELDS}
        try:
            config = save_schedule(desk.config_path, visit.config, channel, values,
                                   expected_hash=str(form.get("file_hash", "")))
        except StaleForm as exc:
            return form_page(visit, status=409, errors={channel: str(exc)},
                             drafts={channel: values})
        except ConfigError as exc:
            return form_page(visit, status=422, errors={channel: str(exc)},
                             drafts={channel: values})
        desk.set_config(config)
        desk.store.record_action(visit.who, "schedule", now=desk.clock(), channel=channel,
                                 detail="; ".join(f"{k}={v}" for k, v in values.items() if v))
        # A bot in this process reloads now (and its dispatcher then asks the store at once,
        # as after every reload) rather than at its next look at the file.
        desk.hooks.check_config()
        return back(request, "/desk/schedule",
                    flash=f"{channel}: schedule saved to config.yaml; the bot picks it up "
                          "within seconds")

    return [Route("/desk/schedule", show, methods=["GET"]),
            Route("/desk/schedule/{name}", save, methods=["POST"])]
