"""Crash soak: workers are SIGKILLed and restarted at random moments; nothing is lost or doubled.

Runs real ``newsbot run`` processes against the local Telegram and X servers from the tests and
a local feed server, publishes articles continuously, and for ``--rounds`` rounds kills one
worker with SIGKILL at a random moment and starts a new one. Then it lets the queue drain,
stops the workers with SIGTERM and prints:

    articles published, deliveries expected, sent, duplicates seen by the servers,
    lost (never sent and not failed/unknown), unknown (each listed)

Target: 0 duplicates, 0 lost. "unknown" is only where a kill landed between a request and
its answer (the servers say whether that post arrived).

    .venv/bin/python benchmarks/crash_soak.py [--rounds 50] [--workers 1]
        [--store postgresql+psycopg://postgres@127.0.0.1:5432/test]

With SQLite (the default) one worker runs at a time (the store's run lock refuses a second);
with a PostgreSQL URL, ``--workers`` processes share it in a fresh schema. The same ``Rig`` is
what tests/test_workers*.py use.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI  # noqa: E402
from tests.fakes.x_api import ENV as X_ENV  # noqa: E402
from tests.fakes.x_api import FakeXApi  # noqa: E402
from tests.feed_server import FeedServer  # noqa: E402

STORY = re.compile(r"Story (\d+) of ([0-9a-f]{6})")
TERMINAL = ("sent", "failed", "unknown", "skipped")


@dataclass
class Figures:
    """What the servers and the store say after a run."""

    published: int
    expected: int
    sent: int
    duplicates: list[str]
    lost: list[str]
    unknown: list[str]  # "channel article N (arrived: yes/no)"
    failed: list[str]
    telegram_429: int
    states: Counter[str] = field(default_factory=Counter)
    min_gap: dict[str, float] = field(default_factory=dict)  # chat → shortest gap (s)

    def lines(self) -> list[str]:
        out = [
            f"articles published:   {self.published}",
            f"deliveries expected:  {self.expected}",
            f"sent:                 {self.sent}",
            f"duplicates (servers): {len(self.duplicates)}",
            f"lost:                 {len(self.lost)}",
            f"unknown:              {len(self.unknown)}",
            f"failed:               {len(self.failed)}",
            f"telegram 429s:        {self.telegram_429}",
            "shortest gap per chat: " + (", ".join(
                f"{chat} {gap:.2f}s" for chat, gap in self.min_gap.items()) or "-"),
        ]
        out += [f"  duplicate: {d}" for d in self.duplicates]
        out += [f"  lost: {d}" for d in self.lost]
        out += [f"  unknown: {d}" for d in self.unknown]
        out += [f"  failed: {d}" for d in self.failed]
        return out


class Rig:
    """Servers, a config.yaml and worker processes for one store."""

    def __init__(self, workdir: Path, store_url: str, *, chats: tuple[str, ...] = ("1001", "1002"),
                 x: bool = True, env: dict[str, str] | None = None, timeout: str | float = "5s",
                 telegram: FakeTelegramAPI | None = None, x_api: FakeXApi | None = None) -> None:
        self.workdir = workdir
        self.store_url = store_url
        self.run_id = uuid.uuid4().hex[:6]
        self.timeout = timeout
        self.telegram = (telegram or FakeTelegramAPI()).start()
        self.x = (x_api or FakeXApi()) if x else None
        if self.x is not None:
            self.x.start()
        self.feed = FeedServer().start()
        self.articles = 0
        self.chats = chats
        self.channels = {f"tg-{i}": chat for i, chat in enumerate(chats)}
        if x:
            self.channels["x"] = "x"
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        # A killed worker's claims come back after NEWSBOT_CLAIM_LEASE. It must outlast the
        # longest send: the in-process Telegram pacer may wait 30 s, plus the 5 s timeout.
        self.env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, **X_ENV,
                    "NEWSBOT_LEASE_TTL": "3", "NEWSBOT_CLAIM_LEASE": "45",
                    "NEWSBOT_SHUTDOWN_GRACE": "5", **(env or {})}
        self.env.pop("NEWSBOT_CONFIG", None)
        self.config_path = workdir / "config.yaml"
        self._publish_feed()
        self._write_config()

    # -- content -----------------------------------------------------------------------

    def publish(self, count: int = 1) -> None:
        """Add ``count`` new articles to the feed."""
        self.articles += count
        self._publish_feed()

    def _publish_feed(self) -> None:
        now = format_datetime(datetime.now(UTC))
        items = "".join(
            f"<item><guid>urn:soak:{self.run_id}:{n}</guid>"
            f"<title>Story {n} of {self.run_id}</title>"
            f"<link>http://news.test/{self.run_id}/{n}</link><pubDate>{now}</pubDate>"
            f"<description>What happened in story {n}. It was news.</description></item>"
            for n in range(self.articles, 0, -1))
        body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
                f"<link>http://news.test/</link>{items}</channel></rss>")
        self.feed.add("/feed.xml", body)

    def _write_config(self) -> None:
        channels: dict[str, Any] = {}
        for name, chat in self.channels.items():
            if name == "x":
                assert self.x is not None
                channels[name] = {"type": "x", "api_key": "${X_API_KEY}",
                                  "api_secret": "${X_API_SECRET}",
                                  "access_token": "${X_ACCESS_TOKEN}",
                                  "access_secret": "${X_ACCESS_SECRET}",
                                  "api_url": self.x.base_url, "timeout": self.timeout,
                                  "hashtags": 0}
            else:
                channels[name] = {"type": "telegram", "token": "${TELEGRAM_BOT_TOKEN}",
                                  "chat": chat, "api_url": self.telegram.base_url,
                                  "timeout": self.timeout, "link_preview": "off"}
        config = {
            "timezone": "UTC", "store": self.store_url, "dispatch_every": "1s",
            "web": {"enabled": False},
            "sources": [{"id": "wire", "url": self.feed.url("/feed.xml"), "every": "1s",
                         "fetch_pages": "never", "language": "en"}],
            "channels": channels,
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    # -- workers -----------------------------------------------------------------------

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = self.workdir / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(self.config_path), "run"],
                cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.workers if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self, timeout: float = 20) -> list[int | None]:
        """SIGTERM every live worker; their exit codes (None: had to be killed)."""
        live = self.alive()
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for proc in live:
            try:
                codes.append(proc.wait(timeout))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                codes.append(None)
        return codes

    def close(self) -> None:
        for proc in self.alive():
            proc.kill()
            proc.wait()
        self.telegram.stop()
        if self.x is not None:
            self.x.stop()
        self.feed.stop()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in self.logs if log.exists())

    # -- what happened -------------------------------------------------------------------

    def store(self) -> Any:
        from bot.store import open_store

        return open_store(self.store_url)

    def states(self) -> dict[tuple[str, int], str]:
        """(channel, story number) → delivery status, from the store."""
        store = self.store()
        try:
            titles = {a.id: a.title for a in _articles(store)}
            rows = store.deliveries()
        finally:
            store.close()
        out: dict[tuple[str, int], str] = {}
        for d in rows:
            match = STORY.search(titles.get(d.article_id, ""))
            if match and match.group(2) == self.run_id:
                out[(d.channel, int(match.group(1)))] = d.status.value
        return out

    def arrivals(self) -> Counter[tuple[str, int]]:
        """(channel, story number) → how many times the servers accepted that post."""
        seen: Counter[tuple[str, int]] = Counter()
        by_chat = {chat: name for name, chat in self.channels.items()}
        for message in list(self.telegram.messages):
            match = STORY.search(message.text or message.caption or "")
            if match and match.group(2) == self.run_id:
                seen[(by_chat.get(message.chat, message.chat), int(match.group(1)))] += 1
        if self.x is not None:
            for tweet in list(self.x.tweets):
                match = STORY.search(tweet.text)
                if match and match.group(2) == self.run_id:
                    seen[("x", int(match.group(1)))] += 1
            # X refuses an exact repeat with 403: a second attempt is a duplicate too.
            repeats = sum(1 for s in list(self.x.seen)
                          if s.path == "/2/tweets" and s.status == 403)
            if repeats:
                seen[("x", -1)] += repeats
        return seen

    def settled(self) -> bool:
        """Every expected delivery is in the store and in a final state."""
        states = self.states()
        return (len(states) == self.articles * len(self.channels)
                and all(s in TERMINAL for s in states.values()))

    def figures(self) -> Figures:
        states, seen = self.states(), self.arrivals()
        expected = [(c, n) for c in self.channels for n in range(1, self.articles + 1)]
        duplicates = [f"{c} story {n}: {k} times" for (c, n), k in sorted(seen.items())
                      if k > 1 or n < 0]
        lost, unknown, failed = [], [], []
        for key in expected:
            status = states.get(key, "missing")
            arrived = seen.get(key, 0)
            label = f"{key[0]} story {key[1]}"
            if status == "unknown":
                unknown.append(f"{label} (arrived at the server: {'yes' if arrived else 'no'})")
            elif status == "failed":
                failed.append(label)
            elif status != "sent" or not arrived:
                lost.append(f"{label} ({status}, arrived {arrived})")
        return Figures(
            published=self.articles, expected=len(expected),
            sent=sum(1 for k in expected if states.get(k) == "sent"),
            duplicates=duplicates, lost=lost, unknown=unknown, failed=failed,
            telegram_429=self.telegram.count(429), states=Counter(states.values()),
            min_gap=self.min_gaps())

    def min_gaps(self) -> dict[str, float]:
        """The shortest time between two messages the Telegram server took for each chat."""
        gaps: dict[str, float] = {}
        for chat in self.chats:
            times = sorted(m.at for m in list(self.telegram.messages) if m.chat == chat)
            if len(times) > 1:
                gaps[chat] = min(b - a for a, b in itertools.pairwise(times))
        return gaps


def _articles(store: Any) -> Iterator[Any]:
    from sqlalchemy import select

    from bot.store import schema

    with store.engine.connect() as conn:
        yield from conn.execute(select(schema.articles.c.id, schema.articles.c.title))


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def soak(rig: Rig, *, rounds: int, workers: int, per_round: int = 1,
         rng: random.Random | None = None, drain: float = 180,
         echo: Callable[[str], None] = print, burst: int = 0,
         pause: tuple[float, float] = (0.5, 5.0)) -> Figures:
    """Publish ``burst`` articles, then publish, kill and restart for ``rounds`` rounds,
    drain, stop; the figures."""
    rng = rng or random.Random()
    if burst:
        rig.publish(burst)
    for _ in range(workers):
        rig.start_worker()
    for round_no in range(1, rounds + 1):
        rig.publish(per_round)
        # A worker needs ~1.5 s to start and ticks every second: kill it anywhere from
        # during its start to a few posts in.
        time.sleep(rng.uniform(*pause))
        live = rig.alive()
        victim = rng.choice(live) if live else None
        if victim is not None:
            rig.kill(victim)
        while len(rig.alive()) < workers:
            rig.start_worker()
        if round_no % 10 == 0:
            echo(f"round {round_no}: {dict(Counter(rig.states().values()))}")
    wait_for(rig.settled, drain, step=1.0)
    codes = rig.stop_all()
    if any(c != 0 for c in codes):
        echo(f"warning: workers exited with {codes}")
    return rig.figures()


def _fresh_schema(url: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"soak_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--per-round", type=int, default=1, help="articles published per round")
    parser.add_argument("--store", default="", help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--burst", type=int, default=0,
                        help="articles published at the start (the issue's scale test: "
                             "--rounds 0 --burst 300 --workers 3 --store postgresql…)")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="newsbot-soak-") as tmp:
        drop: Callable[[], None] = lambda: None  # noqa: E731
        if args.store.startswith("postgresql"):
            url, drop = _fresh_schema(args.store)
        else:
            url = f"sqlite:///{Path(tmp) / 'newsbot.db'}"
            args.workers = 1
        rig = Rig(Path(tmp), url)
        started = time.monotonic()
        try:
            # Telegram takes ~1 message/s per chat (the in-process pacer also keeps 20/min).
            backlog = args.burst + args.rounds * args.per_round
            figures = soak(rig, rounds=args.rounds, workers=args.workers,
                           per_round=args.per_round, rng=random.Random(args.seed),
                           burst=args.burst, drain=max(180.0, backlog * 3.0))
        finally:
            rig.close()
            drop()
        print(f"store: {'postgresql' if 'postgresql' in url else 'sqlite'}, "
              f"workers: {args.workers}, rounds: {args.rounds}, "
              f"{time.monotonic() - started:.0f}s")
        print("\n".join(figures.lines()))
    return 0 if not figures.duplicates and not figures.lost else 1


if __name__ == "__main__":
    sys.exit(main())
