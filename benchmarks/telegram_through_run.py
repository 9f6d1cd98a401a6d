"""A standing Telegram backlog through a real ``newsbot run``: is it sent at the platform's limit?

Run by ``benchmarks/telegram_pacing.py --through-run``. The set-up:

- the local Bot API server from the tests (tests/fakes/telegram_api.py) with Telegram's flood
  limits (1 message/s per chat, 20/min per channel, 30/s overall; a 429 for anything more);
- a local feed server with one feed per backlog channel. Each feed always offers more new
  items than the channel can send, so every channel has a standing backlog for the whole run;
- one more channel, ``fresh``, whose feed is empty until, part-way through, it gets one
  article: due at once, to a channel with nothing queued. Its latency is measured from the
  moment the feed server handed it to the bot to the moment the Bot API server got the post;
- ``newsbot run`` as a subprocess on a SQLite store, with the defaults (dispatch_every 15 s),
  except that NEWSBOT_LEASE_TTL is 3 s so that polls tick every second.

Each backlog channel's rate is its posts over the time from its first post to its last,
compared with the most Telegram's limits allow for as many posts (the least time they could
take: 20 posts a second apart, then each a minute after the one 20 before it). Pass: every
channel at 97% of that or more, no 429, and the fresh article posted under 2 s after its
poll.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI

ROOT = Path(__file__).resolve().parent.parent
NEWSBOT = Path(sys.executable).parent / "newsbot"
CHANNELS = 3
PER_MINUTE = 20
FRESH_AFTER = 50.0  # seconds after the first post: the fresh article appears in its feed


class Feeds:
    """Serves /b<i>.xml (a backlog channel's feed: ``batch`` new items per request, forever)
    and /fresh.xml (empty until ``publish_fresh``). Remembers when the fresh item was first
    handed out (time.monotonic, the Bot API server's clock too)."""

    def __init__(self, batch: int = 25) -> None:
        self.batch = batch
        self.served: dict[str, int] = {}
        self.fresh_published = False
        self.fresh_served_at: float | None = None
        self.lock = threading.Lock()
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = feeds.render(self.path.strip("/").removesuffix(".xml"))
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.xml"

    def publish_fresh(self) -> None:
        self.fresh_published = True

    def render(self, name: str) -> bytes:
        now = datetime.now(UTC)
        with self.lock:
            if name == "fresh":
                keys = ["fresh-1"] if self.fresh_published else []
                if keys and self.fresh_served_at is None:
                    self.fresh_served_at = time.monotonic()
            else:
                start = self.served.get(name, 0)
                self.served[name] = start + self.batch
                keys = [f"{name}-{n}" for n in range(start, start + self.batch)]
        items = "".join(
            f"<item><title>Story {key}</title><link>https://news.example.org/{key}</link>"
            f"<guid>{key}</guid><description>A summary sentence for {key}.</description>"
            f"<pubDate>{format_datetime(now)}</pubDate></item>" for key in keys)
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>{name}</title><link>https://news.example.org/</link>"
                f"<description>bench</description>{items}</channel></rss>").encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def write_config(folder: Path, feeds: Feeds, api_url: str) -> Path:
    sources = "".join(f"  - {{id: b{i}, url: {feeds.url(f'b{i}')}, every: 20s}}\n"
                      for i in range(CHANNELS))
    sources += f"  - {{id: fresh, url: {feeds.url('fresh')}, every: 1s}}\n"
    channels = "".join(
        f"  tg{i}:\n    type: telegram\n    token: ${{TELEGRAM_BOT_TOKEN}}\n"
        f"    chat: \"@bench{i}\"\n    api_url: {api_url}\n    photo: never\n"
        f"    route: {{sources: [b{i}]}}\n" for i in range(CHANNELS))
    channels += (f"  fresh:\n    type: telegram\n    token: ${{TELEGRAM_BOT_TOKEN}}\n"
                 f"    chat: \"@fresh\"\n    api_url: {api_url}\n    photo: never\n"
                 f"    route: {{sources: [fresh]}}\n")
    path = folder / "config.yaml"
    path.write_text(f"timezone: UTC\nstore: sqlite:///{folder / 'bench.db'}\n"
                    f"fetch: {{allow_private: [127.0.0.0/8]}}\n"
                    f"web: {{enabled: false}}\nsources:\n{sources}channels:\n{channels}",
                    encoding="utf-8")
    return path


def least_span(posts: int) -> float:
    """The least time from a channel's first post to its ``posts``-th that Telegram's limits
    allow: one a second, and the (k+20)th a minute after the kth."""
    slots: list[float] = []
    for k in range(posts):
        slot = slots[-1] + 1.0 if slots else 0.0
        if k >= PER_MINUTE:
            slot = max(slot, slots[k - PER_MINUTE] + 60.0)
        slots.append(slot)
    return slots[-1] if slots else 0.0


def bursts(times: list[float], start: float) -> list[tuple[int, int]]:
    """(second the burst began, posts in it): posts less than 2.5 s apart form one burst."""
    found: list[tuple[int, int]] = []
    previous: float | None = None
    for t in times:
        if previous is None or t - previous > 2.5:
            found.append((round(t - start), 0))
        found[-1] = (found[-1][0], found[-1][1] + 1)
        previous = t
    return found


def through_run(minutes: float = 3.0) -> bool:
    seconds = minutes * 60.0
    feeds = Feeds()
    with FakeTelegramAPI() as api, tempfile.TemporaryDirectory(prefix="newsbot-run-") as tmp:
        folder = Path(tmp)
        config = write_config(folder, feeds, api.base_url)
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "NEWSBOT_LEASE_TTL": "3"}
        log = (folder / "run.log").open("w")
        proc = subprocess.Popen([str(NEWSBOT), "--config", str(config), "run"], cwd=folder,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not api.messages and time.monotonic() < deadline:
                time.sleep(0.1)
            if not api.messages:
                print("no post arrived within 60 s; see the log:")
                print((folder / "run.log").read_text()[-3000:])
                return False
            first = min(m.at for m in api.messages)
            time.sleep(max(0.0, first + FRESH_AFTER - time.monotonic()))
            feeds.publish_fresh()
            time.sleep(max(0.0, first + seconds + 1.0 - time.monotonic()))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            feeds.close()
        by_chat: dict[str, list[float]] = {}
        for m in api.messages:
            by_chat.setdefault(m.chat, []).append(m.at)
        print(f"through `newsbot run`: {CHANNELS} channels with a standing backlog for "
              f"{minutes:g} min (Telegram allows {PER_MINUTE}/min per channel)")
        ok = True
        for i in range(CHANNELS):
            times = sorted(t for t in by_chat.get(f"@bench{i}", []) if t < first + seconds)
            if len(times) < 2:
                print(f"  @bench{i}: {len(times)} posts")
                ok = False
                continue
            span, least = times[-1] - times[0], least_span(len(times))
            share = least / span
            ok &= share >= 0.97
            print(f"  @bench{i}: {len(times)} posts in {span:.1f} s, the limits' least "
                  f"{least:.0f} s: {share:.1%} of {PER_MINUTE}/min "
                  f"({PER_MINUTE * share:.2f}/min); bursts (start s, posts): "
                  f"{bursts(times, first)}")
        fresh = [m.at for m in api.messages if m.chat == "@fresh"]
        latency = (fresh[0] - feeds.fresh_served_at
                   if fresh and feeds.fresh_served_at is not None else None)
        print(f"  429 answers: {api.count(429)}")
        print("  fresh article, poll to post: "
              + (f"{latency:.2f} s" if latency is not None else "NOT POSTED"))
        ok &= api.count(429) == 0 and latency is not None and latency < 2.0
        print("PASS" if ok else "FAIL", "(target: >= 97% of 20/min each, 0 x 429, "
              "fresh under 2 s)")
        return ok
