"""What many tests share, so each test file keeps to what it is about.

- ``newsroom_yaml``: a config.yaml with one source (``en``, ``feed.xml``) and the channels
  the test is about; everything else is the defaults.
- ``WallClock``: the wall-clock time dispatch, budgets and the web pages read, moved only by
  the test (``clock.now = …`` or ``clock.advance(minutes=5)``).
- ``MonotonicClock``: a monotonic clock whose ``sleep`` moves it at once, for code that
  paces itself (the Telegram pacer): a test of waiting takes no time, and says how long the
  code would have waited (``clock.slept``).
- ``wait_until``: wait for a condition the code under test makes true, never for a guessed
  number of seconds.
- ``open_light_store``: the light store (bot/store/light.py) on an existing SQLite file.
- ``digest_yaml``: ``newsroom_yaml`` for a newsroom whose one channel is the email digest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from click.testing import Result

    from bot.store import Store
    from bot.store.light import LightStore

#: The instant most tests call "now" (a Tuesday, 09:00 UTC).
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

TELEGRAM = 'tg: {type: telegram, chat: "@c"}'


def newsroom_yaml(*channels: str, timezone: str = "UTC", store: str | None = None,
                  extra: str = "", source: str = "{id: en, url: feed.xml}") -> str:
    """config.yaml text: ``timezone``, ``store`` (when given), the ``extra`` top-level lines,
    one source (``en`` reading ``feed.xml``), and last the ``channels`` (each a YAML mapping
    entry such as ``TELEGRAM``, written as if at the left margin; its keys end up indented
    by four spaces), so a test may append keys to the last channel."""
    lines = [f"timezone: {timezone}"]
    if store is not None:
        lines.append(f"store: {store}")
    lines.extend(extra.strip("\n").splitlines())
    lines.append(f"sources: [{source}]")
    lines.append("channels:")
    for channel in channels or (TELEGRAM,):
        lines.extend("  " + line for line in channel.strip("\n").splitlines())
    return "\n".join(lines) + "\n"


def digest_yaml(smtp: str, *, secret: str, public_url: str = "https://news.example.org/bot",
                store: str = "sqlite:///bot.db") -> str:
    """config.yaml text (``newsroom_yaml``) with one email channel, ``digest``, sent daily at
    07:00 UTC through ``smtp`` (a YAML mapping); no ``secret_key`` line when ``secret`` is
    empty."""
    secret_line = f"secret_key: {secret}\n" if secret else ""
    return newsroom_yaml(f"""digest:
  type: email
  from: "Newsroom <digest@news.example.org>"
  smtp: {smtp}
  schedule: {{cron: "0 7 * * *"}}""", store=store,
                         extra=f"{secret_line}public_url: {public_url}")


class WallClock:
    """A wall clock (aware datetimes, UTC) that only moves when the test moves it."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class MonotonicClock:
    """``time.monotonic`` and ``asyncio.sleep`` for code that takes them as arguments: a
    sleep returns at once and moves the clock, and is remembered in ``slept``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)

    @property
    def waited(self) -> float:
        """How long the code would have waited, in all."""
        return sum(s for s in self.slept if s > 0)


async def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0,
                     what: str = "the condition") -> None:
    """Return as soon as ``condition()`` holds; fail after ``timeout`` seconds (a bound for a
    loaded machine, not a figure the test depends on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(0.01)


def open_light_store(path: Path) -> LightStore:
    """The light store on the SQLite file at ``path``, which must exist and be current (else
    ``open_cycle_store`` would give the full store, and this fails)."""
    from bot.store.light import LightStore, open_cycle_store

    store = open_cycle_store(f"sqlite:///{path}")
    assert isinstance(store, LightStore)
    return store


def newsbot(project: Path, *args: str, input: str | None = None) -> Result:
    """``newsbot --config PROJECT/config.yaml ARGS`` in this process (click's runner)."""
    from click.testing import CliRunner

    from bot.cli import cli

    return CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), *args],
                              input=input)


def store_of(project: Path) -> Store:
    """The store PROJECT/config.yaml names, opened (close it, or use it in ``with``)."""
    from bot.config import load_config
    from bot.store import open_store

    return open_store(load_config(project / "config.yaml").store_url)
