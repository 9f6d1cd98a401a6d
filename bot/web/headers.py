"""Security headers on every page the bot serves (readers' pages, the desk, health, metrics).

The pages show text that came from feeds and from readers (titles, addresses), all escaped by
the templates; the Content-Security-Policy is the second wall should an escape ever be missed:
no script but the bot's own files, no plugins, no framing (the unsubscribe button cannot be
clickjacked), forms that post only back here. Inline styles stay allowed: the readers' pages
carry their CSS inline. A route that sets its own policy keeps it (the desk sets a stricter
one per page, bot/desk/site.py).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
))

SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),  # token links must not leak to an image's host
    ("X-Frame-Options", "DENY"),  # frame-ancestors for browsers that predate it
)


class SecurityHeaders:
    """ASGI middleware adding ``SECURITY_HEADERS`` to each response that lacks them, so a
    route may still set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_middleware() -> list[Middleware]:
    """The middleware list every Starlette app of the bot is built with."""
    return [Middleware(SecurityHeaders)]
