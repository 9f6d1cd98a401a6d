"""Faults: the platforms answer 20% of requests with 429, 500 or no answer at all.

The real dispatcher and channels run in-process against the local Telegram and X servers,
wrapped so that a seeded 20% of post requests fail. The dispatcher's clock is injected and
jumps ahead between passes, so backoffs of minutes cost nothing; retry-afters are 1 s.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.crash_soak import Rig
from bot.channels.telegram import TelegramSender, make_format
from bot.channels.telegram_pacing import Limits, Pacer
from bot.channels.telegram_platform import TelegramChannel
from bot.config import load_config
from bot.dispatch import Dispatcher
from bot.ingest.poll import make_fetcher, poll_sources
from bot.operations import make_dispatcher
from bot.outlets import Outlet, build_outlets, close_outlets
from bot.store import Store, open_store
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_wire import Failure
from tests.fakes.x_api import FakeXApi, Fault

FAULTS = ("429", "500", "hang")


class FlakyTelegram(FakeTelegramAPI):
    """Answers a random ``rate`` of sends with 429 (retry_after 1), 500, or never."""

    def __init__(self, rng: random.Random, rate: float = 0.2) -> None:
        super().__init__(flood_control=False)  # pacing has its own tests; faults are the point
        self.rng, self.rate = rng, rate
        self.log: list[tuple[float, str, str]] = []  # (monotonic, chat, fault or "ok")

    def _take_failure(self, method: str, chat: str) -> Failure | None:  # lock held
        fault = self.rng.choice(FAULTS) if self.rng.random() < self.rate else "ok"
        self.log.append((time.monotonic(), chat, fault))
        if fault == "hang":
            self._hangs.append((1, chat))
        elif fault != "ok":
            return Failure(int(fault), 1, chat, None, 1 if fault == "429" else None,
                            (method,))
        return super()._take_failure(method, chat)


class FlakyX(FakeXApi):
    """Answers a random ``rate`` of post requests with 429 (reset in 1 s), 500, or never."""

    def __init__(self, rng: random.Random, rate: float = 0.2) -> None:
        super().__init__()
        self.rng, self.rate = rng, rate
        self.hang_seconds = 1.5
        self.faults: list[str] = []
        self._roll = threading.Lock()

    def _take_fault(self, path: str) -> Fault | None:
        if path == "/2/tweets":
            with self._roll:
                fault = self.rng.choice(FAULTS) if self.rng.random() < self.rate else "ok"
                self.faults.append(fault)
            if fault == "hang":
                return Fault(0, hang=True)
            if fault == "429":
                return Fault(429, {"x-rate-limit-reset": str(int(time.time()) + 1)})
            if fault == "500":
                return Fault(500)
        return super()._take_fault(path)


def _unpaced_outlets(config: Any) -> dict[str, Outlet]:
    """The configured outlets, with Telegram's in-process pacer holding only 429 blocks."""
    outlets = build_outlets(config)
    free = Limits(per_chat_interval=0, per_chat_per_window=0, overall_per_second=100_000,
                  margin=0)
    for name, outlet in list(outlets.items()):
        if isinstance(outlet.cfg, TelegramChannel):
            sender = TelegramSender(name, outlet.cfg, pacer=Pacer(free))
            outlets[name] = Outlet(name, outlet.cfg, make_format(outlet.cfg), sender)
    return outlets


class Harness:
    """A dispatcher over ``rig``'s store whose clock the test moves."""

    def __init__(self, rig: Rig, store: Store) -> None:
        self.rig, self.store = rig, store
        self.config = load_config(rig.config_path)
        self.skew = timedelta(0)
        self.outlets = _unpaced_outlets(self.config)
        self.dispatcher: Dispatcher = make_dispatcher(self.config, store, self.outlets)
        self.dispatcher.clock = self.now
        self.dispatcher.pace_sleep = self.pace

    def now(self) -> datetime:
        return datetime.now(UTC) + self.skew

    async def pace(self, seconds: float) -> None:
        self.skew += timedelta(seconds=seconds)  # Telegram's 1 s per chat, without waiting

    async def poll(self) -> None:
        async with make_fetcher(self.config) as fetcher:
            await poll_sources(self.config, self.store, now=self.now(), fetcher=fetcher)

    async def drain(self, passes: int = 40) -> int:
        for done in range(1, passes + 1):
            await self.dispatcher.run_once()
            if self.rig.settled():
                return done
            self.skew += timedelta(hours=2)  # every backoff (≤ 1 h) and retry-after is due
        return passes


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes.telegram_api import TOKEN
    from tests.fakes.x_api import ENV

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("env")
async def test_with_20_percent_faults_every_delivery_ends_sent_or_unknown_and_none_twice(
        tmp_path: Path) -> None:
    rng = random.Random(20)
    telegram, x_api = FlakyTelegram(rng), FlakyX(rng)
    rig = Rig(tmp_path, f"sqlite:///{tmp_path / 'newsbot.db'}", timeout=0.5,
              telegram=telegram, x_api=x_api)
    store = open_store(rig.store_url)
    harness = Harness(rig, store)
    try:
        rig.publish(25)
        await harness.poll()
        await harness.drain()
        figures = rig.figures()
    finally:
        await close_outlets(harness.outlets)
        store.close()
        rig.close()
    injected = [f for *_, f in telegram.log] + x_api.faults
    assert {"429", "500", "hang"} <= set(injected)  # every kind of fault really happened
    assert 0.1 < sum(f != "ok" for f in injected) / len(injected) < 0.3
    assert figures.duplicates == [], figures.lines()
    assert figures.lost == [] and figures.failed == [], figures.lines()
    assert figures.sent + len(figures.unknown) == figures.expected == 75
    # Only a request that got no answer may end unknown.
    assert len(figures.unknown) <= injected.count("hang"), figures.lines()
    # Telegram's retry_after was honoured: nothing went to a chat within 1 s of its 429.
    for i, (at, chat, fault) in enumerate(telegram.log):
        if fault == "429":
            later = [t for t, c, _ in telegram.log[i + 1:] if c == chat]
            assert not later or later[0] - at >= 0.95, (chat, later[0] - at)


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("dead", ["hang", "500"])
async def test_a_dead_channel_never_delays_the_others(tmp_path: Path, dead: str) -> None:
    rig = Rig(tmp_path, f"sqlite:///{tmp_path / 'newsbot.db'}", timeout=1,
              telegram=FakeTelegramAPI(flood_control=False))
    dead_chat = rig.channels["tg-1"]
    if dead == "hang":
        rig.telegram.hang_next(1000, chat=dead_chat)
    else:
        rig.telegram.fail_next(500, None, chat=dead_chat)
    store = open_store(rig.store_url)
    harness = Harness(rig, store)
    try:
        rig.publish(3)
        await harness.poll()
        started = time.monotonic()
        await harness.dispatcher.run_once()
        live = [m.at - started for m in rig.telegram.messages if m.chat == rig.channels["tg-0"]]
        states = rig.states()
    finally:
        await close_outlets(harness.outlets)
        store.close()
        rig.close()
    assert len(live) == 3 and len(rig.x.tweets if rig.x else []) == 3
    # All three went out before the dead chat's first request (1 s timeout) had timed out.
    assert max(live) < 1.0, live
    assert all(s == "sent" for (c, _), s in states.items() if c != "tg-1")
    assert all(s in ("pending", "unknown") for (c, _), s in states.items() if c == "tg-1")
