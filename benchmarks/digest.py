"""Benchmark: one digest of 30 articles to 10,000 subscribers through a local SMTP server.

    .venv/bin/python benchmarks/digest.py [--subscribers 10000] [--pool 4]

The SMTP server (aiosmtpd, counting messages) runs in a separate process, as a real relay
would. The digest runs exactly as the cron job does (``run_digest``: per-recipient records
in SQLite before and after each copy), once over a single connection and once over the pool.
Prints messages per second and the peak resident memory of the sending process.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import parse_config
from bot.digest.commands import run_digest
from bot.models import FeedItem
from bot.store import NewDelivery, open_store

RUN_AT = datetime(2026, 11, 24, 4, 0, 5, tzinfo=UTC)  # 07:00 in Baghdad
TARGET = 500  # messages per second over the pool, on a 2-core machine (issue 5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int, ready: Any, count: Any) -> None:
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:  # pragma: no cover
        controller.stop()


def _config(tmp: Path, port: int, pool: int) -> Any:
    return parse_config(f"""
timezone: Asia/Baghdad
store: sqlite:///{tmp / 'bench.db'}
secret_key: benchmark-secret-0123456789
public_url: https://news.example.org/bot
sources: [{{id: en, url: feed.xml}}]
channels:
  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    title: Morning digest
    smtp: {{host: 127.0.0.1, port: {port}, security: none, pool_size: {pool}}}
    schedule: {{cron: "0 7 * * *"}}
    max_articles: 30
""", base_dir=tmp)


def _fill(url: str, subscribers: int) -> None:
    store = open_store(url)
    lorem = ("<p>Officials said on Monday that the new measures would take effect next week, "
             "after a review of the budget and <a href='https://example.org'>consultation</a> "
             "with local councils.</p>") * 3
    plain = lorem.replace("<p>", "").replace("</p>", " ")
    for n in range(30):
        when = RUN_AT - timedelta(hours=3, minutes=n)
        item = FeedItem(source_id="en", guid=f"g{n}", url=f"https://news.example.org/a/{n}",
                        title=f"Headline number {n}: what changed today", summary=plain[:300],
                        summary_html=lorem, sections=(("World", "Politics", "Business")[n % 3],),
                        language="ar" if n % 10 == 0 else "en", published=when,
                        image_url=f"https://img.example.org/{n}.jpg", image_alt=f"Photo {n}")
        article, _ = store.add_article(item, now=when)
        store.create_deliveries(article.id, [NewDelivery("digest", due_at=when)], now=when)
    store.add_subscribers("digest", (f"reader{i}@example.com" for i in range(subscribers)),
                          status="active", now=RUN_AT)
    store.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of another process (Linux /proc), 0 when unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(port: int, count: Any, pool: int, subscribers: int,
          server_pid: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), port, pool)
        _fill(config.store_url, subscribers)
        store = open_store(config.store_url)
        start_count = count.value
        started, cpu = time.perf_counter(), time.process_time()
        server_cpu = _cpu_seconds(server_pid)
        outcome = asyncio.run(run_digest(config, store, "digest", RUN_AT))
        elapsed = time.perf_counter() - started
        print(f"  CPU: sender {time.process_time() - cpu:.1f}s, SMTP server "
              f"{_cpu_seconds(server_pid) - server_cpu:.1f}s, wall {elapsed:.1f}s")
        store.close()
        assert outcome.report is not None and outcome.report.sent == subscribers, outcome
        assert count.value - start_count == subscribers
        return elapsed, subscribers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--pool", type=int, default=4)
    args = parser.parse_args()
    port = _free_port()
    ready, count = multiprocessing.Event(), multiprocessing.Value("i", 0)
    server = multiprocessing.Process(target=_serve, args=(port, ready, count), daemon=True)
    server.start()
    ready.wait(10)
    try:
        rate = 0.0
        for pool in (1, args.pool):
            elapsed, sent = bench(port, count, pool, args.subscribers, server.pid or 0)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rate = sent / elapsed
            print(f"pool={pool}: {sent} messages in {elapsed:.1f}s = {rate:.0f} msgs/s; "
                  f"peak RSS so far {peak:.0f} MiB")
        print(f"target: at least {TARGET} msgs/s with the pool: "
              f"{'met' if rate >= TARGET else 'MISSED'} ({rate:.0f})")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
