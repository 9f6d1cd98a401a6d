"""An image server that trickles bytes cannot hold an X post: the download has a deadline."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from aiohttp import web

from bot.channels.x_media import MediaFailure, fetch_image


async def test_a_trickling_image_download_gives_up_at_its_deadline() -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        await response.prepare(request)
        for _ in range(100):  # one byte every 0.1 s: each read is quick, the whole is not
            await response.write(b"\xff")
            await asyncio.sleep(0.1)
        return response

    app = web.Application()
    app.router.add_get("/slow.jpg", trickle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            started = time.monotonic()
            with pytest.raises(MediaFailure, match="gave up"):
                await fetch_image(http, f"http://127.0.0.1:{port}/slow.jpg", deadline=1.0)
            assert time.monotonic() - started < 3
    finally:
        await runner.cleanup()
