"""A digest cut off by ``kill -9``: after a restart every reader has exactly one copy of the
edition, and the next edition carries only new articles (issue 11, item 3).

Real ``newsbot run`` processes send a digest to 400 readers through the local aiosmtpd
server, slowed a little so that the SIGKILL lands mid-run; the mails are counted at the
server. Each store takes a few seconds.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select, update

from bot.cli import cli
from bot.config import load_config
from bot.digest.commands import digest_preview, run_digest
from bot.models import DeliveryStatus
from bot.store import Store, open_store, schema
from tests import smtp_server as kit
from tests.smtp_server import (
    RUN_AT,
    SECRET,
    RecordingHandler,
    add_article,
    add_subscribers,
    make_config,
    running_server,
)

smtp_server = kit.smtp_server

READERS = 400
ARTICLES = 30


class SlowRelay(RecordingHandler):
    """A relay that takes a few milliseconds over each message, as real ones do: long enough
    for a kill to land while copies are in flight."""

    delay: float = 0.004

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


class Bot:
    """``newsbot run`` processes over one config.yaml, with their logs."""

    def __init__(self, workdir: Path, store_url: str, port: int, fire: datetime) -> None:
        self.workdir = workdir
        self.logs: list[Path] = []
        (workdir / "feed.xml").write_text('<?xml version="1.0"?><rss version="2.0"><channel>'
                                          "<title>Wire</title></channel></rss>")
        config = {
            "timezone": "UTC", "store": store_url, "secret_key": SECRET,
            "public_url": "https://news.example.org/bot", "web": {"enabled": False},
            "sources": [{"id": "en", "url": "feed.xml", "every": "1h"}],
            "channels": {"digest": {
                "type": "email", "from": "Newsroom <digest@news.example.org>",
                "title": "Morning digest",
                "smtp": {"host": "127.0.0.1", "port": port, "security": "none",
                         "pool_size": 4, "timeout": "5s"},
                # Fired a moment ago, so the bot sends it as soon as it leads.
                "schedule": {"cron": f"{fire.minute} {fire.hour} * * *", "grace": "6h"},
            }},
        }
        self.config_path = workdir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        # A short lease TTL, so that on PostgreSQL the restarted worker takes over from the
        # dead one within seconds (the default is a minute).
        self.env = {**os.environ, "NEWSBOT_LEASE_TTL": "2", "NEWSBOT_SHUTDOWN_GRACE": "5"}
        self.env.pop("NEWSBOT_CONFIG", None)

    def start(self) -> subprocess.Popen[bytes]:
        log = self.workdir / f"run-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(self.config_path), "run"],
                cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def log_tail(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
                         for p in self.logs if p.exists())


@pytest.fixture
def slow_relay() -> Iterator[tuple[SlowRelay, int]]:
    handler = SlowRelay()
    with running_server(handler) as port:
        yield handler, port


def _articles_in(data: bytes) -> set[int]:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return {int(n) for n in re.findall(r"Article (\d+)\b", body.get_content())}


def test_kill_9_mid_digest_then_restart_gives_each_reader_one_copy_and_no_repeat(
        tmp_path: Path, store_url: str, slow_relay: tuple[SlowRelay, int]) -> None:
    handler, port = slow_relay
    if store_url.startswith("postgresql"):
        # The bot's commits need not wait for PostgreSQL's disk here (what is tested is the
        # bot being killed, not the server): it keeps the test to seconds on a busy machine.
        store_url += ("%20" if "options=" in store_url else "&options=" if "?" in store_url
                      else "?options=") + "-csynchronous_commit%3Doff"
    store: Store = open_store(store_url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(ARTICLES):
            add_article(store, n)
        emails = [f"reader{i}@example.com" for i in range(READERS)]
        store.add_subscribers("digest", emails, status="active", now=datetime.now(UTC))
        fire = datetime.now(UTC).replace(second=0, microsecond=0)
        bot = Bot(tmp_path, store_url, port, fire)

        first = bot.start()
        procs.append(first)
        assert wait_for(lambda: len(handler.received) >= 100, 30), bot.log_tail()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        cut_off = len(handler.received)
        assert cut_off < READERS, "the kill came too late to test anything"
        (run,) = store.digest_runs("digest")
        assert run.status == "sending"

        started = time.monotonic()
        second = bot.start()
        procs.append(second)
        assert wait_for(lambda: store.digest_runs("digest")[0].status == "sent", 30), \
            bot.log_tail()
        resumed_in = time.monotonic() - started
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, bot.log_tail()
        assert resumed_in < 15, resumed_in  # not the 3-minute lease of 0.1

        # The run's articles are its own, sent with it: none went back to the queue.
        rows = store.deliveries(channel="digest")
        assert {d.status for d in rows} == {DeliveryStatus.SENT}
        assert {d.receipt_id for d in rows} == {f"digest-run:{run.id}"}

        # Copies in flight at the kill are unknown. The operator checks the relay's log:
        # the ones it has are left out, the others are sent now.
        unknown = [sub.email for sub, _ in store.unknown_sends(run.id)]
        assert len(unknown) <= 4  # at most one per pooled connection
        arrived = handler.by_recipient()
        left_out = [arg for e in unknown if e in arrived for arg in ("--except", e)]
        result = CliRunner().invoke(cli, ["--config", str(bot.config_path), "digest",
                                          "resend-unknown", str(run.id), "--yes", *left_out])
        assert result.exit_code == 0, result.output
        counts = handler.by_recipient()
        assert sorted(counts) == sorted(emails)
        assert set(counts.values()) == {1}, {e: c for e, c in counts.items() if c != 1}
        assert len(handler.received) == READERS

        # The next edition holds only what arrived since: nothing of run 1 is queued again.
        new = {add_article(store, n, published=datetime.now(UTC) - timedelta(minutes=1)).id
               for n in range(100, 103)}
        tomorrow = fire + timedelta(days=1, seconds=5)
        assert {a for _, a in store.pending_digest_deliveries("digest", tomorrow)} == new
        eml, _, count = digest_preview(load_config(bot.config_path), store, "digest",
                                       tmp_path / "next", now=tomorrow)
        assert count == 3
        assert _articles_in(eml.read_bytes()) == {100, 101, 102}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        store.close()


# -- the pieces, in process --------------------------------------------------------------


def test_recovering_a_dead_workers_claims_leaves_a_digest_runs_articles_to_the_run(
        tmp_path: Path, store: Store) -> None:
    for n in range(3):
        add_article(store, n)
    run = store.start_digest_run("digest", scheduled_for=RUN_AT, now=RUN_AT, max_articles=30)
    assert run is not None
    # What `newsbot run` does at start on SQLite, and stop() does for its own worker.
    assert store.release_claims(None, now=RUN_AT) == (0, 0)
    assert store.recover_expired(RUN_AT + timedelta(days=1)) == (0, 0)
    rows = store.deliveries(channel="digest")
    assert {(d.status, d.receipt_id) for d in rows} == {(DeliveryStatus.CLAIMED, "")}
    assert store.pending_digest_deliveries("digest", RUN_AT + timedelta(days=1)) == []


def test_a_resumed_run_takes_back_articles_an_old_recovery_handed_back(
        tmp_path: Path, store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    handler, port = smtp_server
    config = make_config(tmp_path, port)
    for n in range(3):
        add_article(store, n)
    add_subscribers(store, 2)
    run = store.start_digest_run("digest", scheduled_for=RUN_AT - timedelta(seconds=5),
                                 now=RUN_AT, max_articles=30)
    assert run is not None
    # 0.1's start-up recovery released the crashed run's claims.
    with store.engine.begin() as conn:
        conn.execute(update(schema.deliveries).values(status="pending", claimed_by=""))
    assert asyncio.run(run_digest(config, store, "digest", RUN_AT)).status == "sent"
    assert {(d.status, d.receipt_id) for d in store.deliveries(channel="digest")} == {
        (DeliveryStatus.SENT, f"digest-run:{run.id}")}
    tomorrow = RUN_AT + timedelta(days=1)
    assert asyncio.run(run_digest(config, store, "digest", tomorrow)).status == "empty"
    assert len(handler.received) == 2


def test_the_digest_lease_is_renewed_while_the_run_sends(
        tmp_path: Path, sqlite_store: Store, slow_relay: tuple[SlowRelay, int]) -> None:
    handler, port = slow_relay
    handler.delay = 0.1
    config = make_config(tmp_path, port)
    add_article(sqlite_store, 1)
    add_subscribers(sqlite_store, 12)
    seen: list[datetime] = []

    def lease_now(_: object) -> None:
        with sqlite_store.engine.connect() as conn:
            seen.append(conn.execute(select(schema.leases.c.expires_at)).scalar_one())

    # The run starts "at" RUN_AT with a lease to RUN_AT + 0.4 s; the heartbeat renews it
    # from the real clock, days later, every 0.1 s while copies go out.
    outcome = asyncio.run(run_digest(config, sqlite_store, "digest", RUN_AT,
                                     after_send=lease_now, lease_ttl=timedelta(seconds=0.4)))
    assert outcome.status == "sent" and len(handler.received) == 12
    assert seen[-1] > RUN_AT + timedelta(days=1)
    assert len(set(seen)) >= 3  # renewed again and again, not once
