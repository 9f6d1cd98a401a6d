"""The desk's frame: its configuration view, page rendering, headers, and the guard every
page passes (a session, the role it needs, and on POST a same-site request with its token).

The desk reads ``config.yaml`` itself (again whenever the file changes), so a schedule saved
from the desk shows at once, whether the pages are served by ``newsbot run`` (whose own hot
reload picks the file up too) or by ``newsbot serve``. A file that does not validate leaves
the desk on the last good one, and the pages say so.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.config import Config, load_config
from bot.desk import auth
from bot.desk.hooks import NO_BOT, BotHooks
from bot.errors import ConfigError
from bot.render import BUNDLED_TEMPLATES
from bot.store import Store
from bot.web.ratelimit import Network, client_key, parse_networks

log = logging.getLogger("newsbot.desk")

#: Scripts only from the desk itself (htmx, vendored); images from anywhere an article's
#: may live; nothing may frame the desk. The post page also allows inline styles, which the
#: digest's HTML carries into its sandboxed preview frame (a srcdoc frame inherits the CSP).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: http: "
       "data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
CSP_WITH_FRAMES = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + \
    "; frame-src 'self'"
HEADERS = {"X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

Handler = Callable[[Request], Awaitable[Response]]
GuardedHandler = Callable[[Request, "Visit"], Awaitable[Response]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Visit:
    """One request by a logged-in editor."""

    session: auth.Session
    config: Config

    @property
    def who(self) -> str:
        return self.session.account.name


class Desk:
    """Everything the desk's pages share."""

    def __init__(self, config: Config, config_path: Path, store: Store, secret: bytes, *,
                 clock: Callable[[], datetime] = _utc_now,
                 proxies: tuple[Network, ...] = (), secure_cookie: bool = False,
                 hooks: BotHooks = NO_BOT) -> None:
        self.config_path = config_path
        self.hooks = hooks  # the bot in this process, if any (bot.desk.hooks)
        self.store = store
        self.secret = secret
        self.clock = clock
        self.proxies = proxies
        self.secure_cookie = secure_cookie
        self.config_error = ""
        self._config = config
        self._stat = _stat_of(config_path)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(BUNDLED_TEMPLATES / "desk")),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
            lstrip_blocks=True)
        self.env.filters["local"] = _local

    # -- the configuration ----------------------------------------------------------------

    def config(self) -> Config:
        """config.yaml as it is now; the last good one while the file does not validate."""
        stat = _stat_of(self.config_path)
        if stat != self._stat:
            try:
                self._config = load_config(self.config_path)
                self.config_error = ""
            except ConfigError as exc:
                self.config_error = str(exc)
            self._stat = stat
        return self._config

    def set_config(self, config: Config) -> None:
        """A configuration just validated and written (the schedule form)."""
        self._config = config
        self._stat = _stat_of(self.config_path)
        self.config_error = ""

    # -- pages ---------------------------------------------------------------------------

    def page(self, template_name: str, visit: Visit | None, *, status_code: int = 200,
             frames: bool = False, **context: Any) -> HTMLResponse:
        template = self.env.get_template(f"{template_name}.html.j2")
        body = template.render(visit=visit, account=visit.session.account if visit else None,
                               csrf=visit.session.csrf_token if visit else "",
                               config_error=self.config_error, now=self.clock(), **context)
        return HTMLResponse(body, status_code=status_code, headers=headers(frames=frames))

    def client(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_key(peer, request.headers.getlist("x-forwarded-for"), self.proxies)

    def guard(self, role: str = "editor") -> Callable[[GuardedHandler], Handler]:
        """Wrap a page: no session → the login page (GET) or 403 (POST); a POST that is not
        same-site or lacks the session's token → 403; ``admin`` pages refuse editors."""
        def wrap(handler: GuardedHandler) -> Handler:
            @functools.wraps(handler)
            async def guarded(request: Request) -> Response:
                session = auth.read_session(self.secret, self.store,
                                            request.cookies.get(auth.COOKIE), now=self.clock())
                post = request.method == "POST"
                if session is None:
                    if post:
                        return refused("Log in first.", 403)
                    target = quote(request.url.path + (f"?{request.url.query}"
                                                       if request.url.query else ""))
                    return RedirectResponse(f"/desk/login?next={target}", 303,
                                            headers=HEADERS)
                if post:
                    form = await request.form()
                    if not auth.same_site(request) or not auth.token_ok(
                            session, str(form.get("csrf", ""))):
                        log.warning("desk: refused a cross-site or tokenless POST to %s by %s",
                                    request.url.path, session.account.name)
                        return refused("This form did not come from the desk (or the page "
                                       "was open too long); reload the page and try again.",
                                       403)
                if role == "admin" and not session.account.is_admin:
                    return refused("Only an admin may do this.", 403)
                return await handler(request, Visit(session, self.config()))
            return guarded
        return wrap


def headers(*, frames: bool = False) -> dict[str, str]:
    return {**HEADERS, "Content-Security-Policy": CSP_WITH_FRAMES if frames else CSP}


def refused(text: str, status: int) -> HTMLResponse:
    body = ("<!doctype html><meta charset=utf-8><title>Refused</title>"
            f"<p>{escape(text)}</p><p><a href=/desk/>Back to the desk</a>")
    return HTMLResponse(body, status_code=status, headers=headers())


def back(request: Request, default: str, *, flash: str = "", error: str = "") -> Response:
    """Redirect (303) after a POST, to the page the form came from when it is ours."""
    target = request.query_params.get("back") or default
    if not target.startswith("/desk") or target.startswith("//"):
        target = default
    sep = "&" if "?" in target else "?"
    if flash:
        target += f"{sep}said={quote(flash)}"
    elif error:
        target += f"{sep}error={quote(error)}"
    return RedirectResponse(target, 303, headers=HEADERS)


def _local(moment: datetime | None, zone: Any, fmt: str = "%a %d %b %H:%M") -> str:
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime(fmt)


def make_desk(config: Config, store: Store, config_path: Path, *,
              clock: Callable[[], datetime] = _utc_now, hooks: BotHooks = NO_BOT) -> Desk:
    from bot.digest.tokens import secret_of

    return Desk(config, config_path, store, secret_of(config), clock=clock,
                proxies=tuple(parse_networks(config.web.trusted_proxies)),
                secure_cookie=config.public_url.startswith("https://"), hooks=hooks)


def _stat_of(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)
