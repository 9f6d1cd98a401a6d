"""Accounts: every editor changes their own password here (which ends their other sessions);
admins also add and remove accounts. The same operations as ``newsbot editors``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.desk import auth
from bot.desk.site import Desk, Visit, back
from bot.web.ratelimit import retry_after


def routes(desk: Desk) -> list[BaseRoute]:
    @desk.guard()
    async def show(request: Request, visit: Visit) -> Response:
        accounts = desk.store.list_editors() if visit.session.account.is_admin else []
        return desk.page("accounts", visit, accounts=accounts,
                         said=request.query_params.get("said", ""),
                         error=request.query_params.get("error", ""),
                         log=desk.store.actions(limit=30))

    @desk.guard()
    async def password(request: Request, visit: Visit) -> Response:
        form = await request.form()
        account = visit.session.account
        now = desk.clock()
        # The login's limits: an open session must not be a way to guess the password.
        keys = auth.login_keys(account.name, desk.client(request))
        wait = auth.login_wait(desk.store, keys, now=now)
        if wait:
            return back(request, "/desk/accounts", error="Too many wrong passwords. Try "
                        f"again in {-(-retry_after(wait) // 60)} minutes.")
        if auth.check_password(desk.store, account.name, str(form.get("current", "")),
                               now=now) is None:
            desk.store.record_login_failure(keys, now=now)
            return back(request, "/desk/accounts", error="The current password is wrong.")
        new = str(form.get("new", ""))
        if new != str(form.get("again", "")):
            return back(request, "/desk/accounts", error="The two new passwords differ.")
        try:
            digest = auth.hash_password(new)
        except ValueError as exc:
            return back(request, "/desk/accounts", error=str(exc))
        desk.store.set_editor_password(account.name, digest, now=now)
        desk.store.record_action(visit.who, "password", now=now)
        return back(request, "/desk/login", flash="password changed; log in again")

    @desk.guard("admin")
    async def add(request: Request, visit: Visit) -> Response:
        form = await request.form()
        name = str(form.get("name", "")).strip()
        role = str(form.get("role", "editor"))
        try:
            if not name or len(name) > 100 or any(c.isspace() for c in name):
                raise ValueError("a name is one word of at most 100 characters")
            desk.store.add_editor(name, auth.hash_password(str(form.get("password", ""))),
                                  role, now=desk.clock())
        except ValueError as exc:
            return back(request, "/desk/accounts", error=str(exc))
        desk.store.record_action(visit.who, "add-editor", now=desk.clock(),
                                 detail=f"{name} ({role})")
        return back(request, "/desk/accounts", flash=f"{name} ({role}) added")

    @desk.guard("admin")
    async def remove(request: Request, visit: Visit) -> Response:
        name = request.path_params["name"]
        if name == visit.who:
            return back(request, "/desk/accounts", error="You cannot remove your own account.")
        if not desk.store.remove_editor(name):
            return back(request, "/desk/accounts", error=f"no editor is named {name!r}")
        desk.store.record_action(visit.who, "remove-editor", now=desk.clock(), detail=name)
        return back(request, "/desk/accounts", flash=f"{name} removed")

    return [Route("/desk/accounts", show, methods=["GET"]),
            Route("/desk/accounts/password", password, methods=["POST"]),
            Route("/desk/accounts/add", add, methods=["POST"]),
            Route("/desk/accounts/{name}/remove", remove, methods=["POST"])]
