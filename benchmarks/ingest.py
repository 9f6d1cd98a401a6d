"""Ingest benchmark: N feeds × M items from a local HTTP server into a SQLite store.

Measures a full ingest (fetch, parse, dedup, store, plan) and prints items/s, feeds/s and
peak memory, then the cost per item as the store grows towards --grow-to articles (it should
stay flat: dedup is an indexed lookup, never a scan).

    .venv/bin/python benchmarks/ingest.py                     # 20 feeds × 50 items, grow to 100k
    .venv/bin/python benchmarks/ingest.py --grow-to 20000     # a quicker look
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import parse_config
from bot.ingest.poll import make_fetcher, poll_sources
from bot.store import open_store


class _Server(ThreadingHTTPServer):
    # http.server listens with a backlog of 5: the 8 connections a poll opens at once to
    # this host overflowed it, and each dropped connection was retried by the client's TCP
    # a second later, so every round took ~1.06 s whatever its work (nstat's
    # TcpExtListenOverflows counted them). 128 is what a real server listens with.
    request_queue_size = 128


class FeedServer:
    """Serves /feed/<i>.xml; ``generation`` changes every item's id and link."""

    def __init__(self, feeds: int, items: int) -> None:
        self.feeds, self.items, self.generation = feeds, items, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index = int(self.path.rsplit("/", 1)[-1].split(".")[0])
                body = server.render(index)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def render(self, feed: int) -> bytes:
        now = datetime.now(UTC)
        items = []
        for n in range(self.items):
            key = f"g{self.generation}-f{feed}-i{n}"
            items.append(
                f"<item><title>Article {key} about the regional economy</title>"
                f"<link>https://news.example.org/{key}?utm_source=rss</link>"
                f"<guid>{key}</guid><category>Economy</category>"
                f"<pubDate>{format_datetime(now - timedelta(minutes=n))}</pubDate>"
                "<description>&lt;p&gt;Ministers met on Tuesday to discuss the budget, "
                "the second such meeting this month, officials said.&lt;/p&gt;</description>"
                "</item>")
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Feed {feed}</title><link>https://news.example.org/</link>"
                f"{''.join(items)}</channel></rss>").encode()

    def close(self) -> None:
        self.httpd.shutdown()


def make_config(port: int, feeds: int, db: Path) -> str:
    sources = "\n".join(
        f"  - {{id: f{i}, url: 'http://127.0.0.1:{port}/feed/{i}.xml', fetch_pages: never}}"
        for i in range(feeds))
    return f"""
store: sqlite:///{db}
fetch: {{per_host: 8}}
sources:
{sources}
channels:
  tg: {{type: telegram, chat: "@bench", route: {{sections: [Economy]}}}}
  x: {{type: x}}
"""


async def one_round(config_text: str, store_url: str) -> tuple[float, float, int]:
    """One poll of every feed: (wall seconds, CPU seconds, new articles). CPU is the whole
    process's (the feed server's threads too): steadier than wall time on a busy machine."""
    config = parse_config(config_text)
    store = open_store(store_url)
    started, cpu = time.perf_counter(), time.process_time()
    async with make_fetcher(config) as fetcher:
        reports = await poll_sources(config, store, now=datetime.now(UTC), fetcher=fetcher,
                                     only_due=False)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    failed = [r.error for r in reports if not r.ok]
    if failed:
        raise SystemExit(f"ingest failed: {failed[:3]}")
    return elapsed, cpu, sum(r.new for r in reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--grow-to", type=int, default=100_000)
    args = parser.parse_args()

    server = FeedServer(args.feeds, args.items)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        config_text = make_config(server.port, args.feeds, db)
        store_url = f"sqlite:///{db}"
        per_round = args.feeds * args.items

        elapsed, _, new = asyncio.run(one_round(config_text, store_url))
        print(f"first ingest: {args.feeds} feeds × {args.items} items = {new} new articles "
              f"in {elapsed:.2f} s → {new / elapsed:,.0f} items/s, "
              f"{args.feeds / elapsed:,.1f} feeds/s")

        # The same content again: every item known, nothing stored.
        elapsed, _, new = asyncio.run(one_round(config_text, store_url))
        print(f"re-poll, nothing new: {per_round} known items in {elapsed:.2f} s "
              f"({elapsed / per_round * 1e6:,.0f} µs per item)")
        server.generation += 1

        print(f"\ncost per new item as the store grows (rounds of {per_round} items):")
        print(f"{'articles in store':>18}  {'µs per item':>12}  {'CPU µs':>7}  {'items/s':>9}")
        total = per_round
        checkpoints = {int(args.grow_to * f) for f in (0.1, 0.25, 0.5, 0.75, 1.0)}
        while total < args.grow_to:
            elapsed, cpu, new = asyncio.run(one_round(config_text, store_url))
            server.generation += 1
            total += new
            if any(abs(total - c) < per_round for c in checkpoints) or total >= args.grow_to:
                print(f"{total:>18,}  {elapsed / new * 1e6:>12,.0f}  {cpu / new * 1e6:>7,.0f}  "
                      f"{new / elapsed:>9,.0f}")
                checkpoints = {c for c in checkpoints if c > total}
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak memory (max RSS): {peak_mb:,.0f} MB")
    server.close()


if __name__ == "__main__":
    main()
