"""The Bot API's wire format, for the local server in ``telegram_api``: reading a request's
parameters (query, JSON, form or multipart, JSON-valued fields decoded) and the answer
envelope (``{"ok": true, "result": …}`` or an error with Telegram's own descriptions),
including a failure a test scheduled with ``fail_next``.

This file deliberately does not import newsbot: it stands for Telegram, not for our code.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot is not a member of the channel chat",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Failure:
    """A failure ``fail_next`` scheduled: the next ``count`` requests answered ``status``."""

    status: int
    count: int | None  # None: until cleared
    chat: str | None
    description: str | None
    retry_after: int | None
    methods: tuple[str, ...]


async def read_params(request: web.Request) -> tuple[dict[str, Any], bytes | None]:
    params: dict[str, Any] = dict(request.query)
    upload: bytes | None = None
    ctype = request.content_type
    if ctype == "application/json":
        params.update(await request.json())
    elif ctype == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not hasattr(part, "name") or part.name is None:
                continue
            if part.filename is not None:  # type: ignore[union-attr]
                upload = await part.read()  # type: ignore[union-attr]
                params[part.name] = f"attach://{part.name}"
            else:
                params[part.name] = await part.text()  # type: ignore[union-attr]
    elif request.can_read_body:
        params.update(await request.post())
    decoded: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        decoded[key] = value
    return decoded, upload


def ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def error(status: int, description: str, parameters: dict[str, Any] | None = None,
           ) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def failure_response(failure: Failure) -> web.Response:
    description = failure.description or _DESCRIPTIONS.get(failure.status, "Error").format(
        retry_after=failure.retry_after)
    parameters = {"retry_after": failure.retry_after} if failure.status == 429 else None
    return error(failure.status, description, parameters)
