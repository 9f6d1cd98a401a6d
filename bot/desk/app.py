"""The desk's routes under ``/desk``: login and logout here, each screen in its own module
(bot/desk/screens/), and the vendored static files.

``desk_routes`` is what the bot's web app mounts (bot/web/app.py) when ``desk.enabled``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.config import Config
from bot.desk import auth
from bot.desk.hooks import NO_BOT, BotHooks
from bot.desk.screens import accounts, history, plan, post, queue, schedule, status
from bot.desk.site import HEADERS, Desk, Visit, make_desk, refused
from bot.store import Store
from bot.web.ratelimit import retry_after

STATIC = Path(__file__).resolve().parent / "static"


def _safe_next(value: str) -> str:
    return value if value.startswith("/desk") and not value.startswith("//") else "/desk/"


def login_routes(desk: Desk) -> list[BaseRoute]:
    async def login_page(request: Request) -> Response:
        session = auth.read_session(desk.secret, desk.store, request.cookies.get(auth.COOKIE),
                                    now=desk.clock())
        if session is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next", "")), 303,
                                    headers=HEADERS)
        return desk.page("login", None, next=request.query_params.get("next", "/desk/"),
                         name="", error="")

    async def login(request: Request) -> Response:
        if not auth.same_site(request):
            return refused("This login form did not come from the desk.", 403)
        form = await request.form()
        name = str(form.get("name", "")).strip()[:100]
        password = str(form.get("password", ""))[:1000]
        target = _safe_next(str(form.get("next", "/desk/")))
        now = desk.clock()
        keys = auth.login_keys(name, desk.client(request))
        wait = auth.login_wait(desk.store, keys, now=now)
        if wait:
            seconds = retry_after(wait)
            page = desk.page("login", None, status_code=429, next=target, name=name,
                             error="Too many failed logins. Try again in "
                                   f"{-(-seconds // 60)} minutes.")
            page.headers["Retry-After"] = str(seconds)
            return page
        account = auth.check_password(desk.store, name, password, now=now)
        if account is None:
            desk.store.record_login_failure(keys, now=now)
            return desk.page("login", None, status_code=401, next=target, name=name,
                             error="That name and password do not match an account.")
        desk.store.clear_login_failures(keys[0])
        response = RedirectResponse(target, 303, headers=HEADERS)
        response.headers.append("Set-Cookie", auth.set_cookie_header(
            auth.session_value(desk.secret, account, issued=now), secure=desk.secure_cookie))
        return response

    @desk.guard()
    async def logout(request: Request, visit: Visit) -> Response:
        desk.store.end_sessions(visit.session.account.id, now=desk.clock())
        response = RedirectResponse("/desk/login", 303, headers=HEADERS)
        response.headers.append("Set-Cookie", auth.set_cookie_header(
            "", secure=desk.secure_cookie, max_age=0))
        return response

    return [Route("/desk/login", login_page, methods=["GET"]),
            Route("/desk/login", login, methods=["POST"]),
            Route("/desk/logout", logout, methods=["POST"])]


def desk_routes(config: Config, store: Store, config_path: Path, *,
                clock: Callable[[], datetime] | None = None,
                hooks: BotHooks = NO_BOT) -> list[BaseRoute]:
    """Every /desk route. Needs ``secret_key`` (ConfigError otherwise). ``hooks``: the bot
    running in this process (``newsbot run``), woken by the editors' actions."""
    desk = make_desk(config, store, config_path, hooks=hooks) if clock is None else \
        make_desk(config, store, config_path, clock=clock, hooks=hooks)
    return [
        *login_routes(desk),
        *post.routes(desk),  # before queue's /deliveries/{id}/{action}
        *queue.routes(desk),
        *plan.routes(desk),
        *history.routes(desk),
        *status.routes(desk),
        *schedule.routes(desk),
        *accounts.routes(desk),
        Mount("/desk/static", app=StaticFiles(directory=STATIC), name="desk-static"),
    ]
