"""The download-only floor of benchmarks/ingest_vs_reader.py: N feeds fetched with httpx over
16 connections, bodies read, nothing parsed or stored. A module of its own, importing only
asyncio and httpx, so that timed as a whole process it pays what any Python downloader pays
(the interpreter's start, httpx's import) and nothing of the benchmark's.

    python benchmarks/download_only.py PORT FEEDS
"""

from __future__ import annotations

import asyncio
import sys


async def download_all(port: int, feeds: int) -> int:
    """Fetch /feed/0.xml … /feed/{feeds-1}.xml from 127.0.0.1:port; the bytes received."""
    import httpx

    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    total = 0
    async with httpx.AsyncClient(limits=limits) as client:
        semaphore = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            nonlocal total
            async with semaphore:
                response = await client.get(f"http://127.0.0.1:{port}/feed/{i}.xml")
                total += len(response.content)

        await asyncio.gather(*(one(i) for i in range(feeds)))
    return total


if __name__ == "__main__":
    asyncio.run(download_all(int(sys.argv[1]), int(sys.argv[2])))
