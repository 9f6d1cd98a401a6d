"""Runs the web pages (subscribe, unsubscribe, health, metrics) inside the bot's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette

from bot.config import Config, Web

if TYPE_CHECKING:
    from bot.desk.hooks import BotHooks
    from bot.store import Store
    from bot.web.health import GetService

log = logging.getLogger("newsbot.web")


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to newsbot, which stops it as part of a clean
    shutdown (uvicorn would otherwise take over SIGINT/SIGTERM for the whole process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def make_server(app: Starlette, web: Web) -> EmbeddedServer:
    # proxy_headers off: uvicorn would otherwise rewrite the client address from
    # X-Forwarded-For for connections from 127.0.0.1. Which proxies to believe is
    # web.trusted_proxies' job alone (bot.web.ratelimit), so the app sees the real peer.
    config = uvicorn.Config(app, host=web.host, port=web.port, log_level="warning",
                            access_log=False, lifespan="off", proxy_headers=False)
    return EmbeddedServer(config)


async def serve(server: EmbeddedServer, web: Web) -> None:
    """Serve until stopped. uvicorn exits the process when it cannot bind; the bot must keep
    posting anyway, so that is logged and the rest of the bot runs on."""
    try:
        await server.serve()
    except (SystemExit, OSError) as exc:
        log.error("web: cannot serve on %s:%d (%s); the bot keeps running without its web "
                  "pages: free the port or set web.port", web.host, web.port, exc)


def start_pages(config: Config, store: Store, get_service: GetService, *,
                config_path: Path, desk_hooks: BotHooks | None = None
                ) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Serve the readers' pages, /healthz and /metrics from the running bot (``newsbot
    run``): the server, and the task serving it until it is told to exit. The desk, when
    enabled, wakes the bot through ``desk_hooks``.

    Without a secret_key the readers' pages cannot sign links, so only health and
    metrics are served, and the log says what to set.
    """
    from bot.errors import ConfigError
    from bot.web.app import make_app
    from bot.web.health import health_app
    from bot.web.metrics_access import MetricsAccess

    access = MetricsAccess.from_environ()  # read once; registers the token for redaction
    app: Starlette
    try:
        app = make_app(config, store, get_service=get_service, config_path=config_path,
                       desk_hooks=desk_hooks, metrics_access=access)
    except ConfigError as exc:
        log.warning("web: subscribe/unsubscribe pages are off (%s); serving /healthz and "
                    "/metrics only", exc)
        app = health_app(get_service, access)
    server = make_server(app, config.web)
    task = asyncio.create_task(serve(server, config.web), name="web")
    log.info("web: http://%s:%d (public address %s); %s", config.web.host, config.web.port,
             config.public_url, access.describe())
    return server, task
