"""Serving a fake API's aiohttp app on 127.0.0.1 from a thread of its own.

The app runs on its own event loop in a daemon thread, so async tests, sync tests and a
``newsbot`` subprocess can all talk to it at ``base_url``. ``release`` is an event of that
loop, set when the server stops, for handlers that hang on purpose (an answer that is lost)
until the test is done.

This file deliberately does not import newsbot: the fakes stand for the platforms.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web


class ServedApp:
    """One aiohttp application on a free loopback port. ``name`` names the thread and the
    error when the server does not start."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.base_url = ""
        self.release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self, build: Callable[[], web.Application]) -> str:
        """Serve the app ``build`` makes (called on the server's loop); returns the root URL."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def serve() -> None:
            self.release = asyncio.Event()
            runner = web.AppRunner(build(), access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            self._runner = runner

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")
        return self.base_url

    def stop(self) -> None:
        """Let hanging handlers go, close the server and its loop (a second call does nothing)."""
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return

        async def shutdown() -> None:
            if self.release is not None:
                self.release.set()
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = self._runner = None
