"""`newsbot status` shows what the running bot does (its workers' heartbeats), not what the
shell it is typed in would do; and when each source last gave a new article."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.config import load_config
from bot.models import FeedItem
from bot.operations import source_activity
from bot.store import ChannelView, open_store

NOW = datetime.now(UTC)


def status(project: Path) -> str:
    result = CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "status"])
    assert result.exit_code == 0, result.output
    return result.output


def channel_line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(name + " "))


def test_status_says_when_no_worker_is_running(project: Path) -> None:
    output = status(project)
    assert "workers: none" in output
    assert "[no worker running]" in channel_line(output, "telegram-en")
    assert "TELEGRAM_BOT_TOKEN not set" not in output  # this shell's environment is no judge


def test_status_shows_the_running_workers_view_of_each_channel(project: Path) -> None:
    config = load_config(project / "config.yaml")
    with open_store(config.store_url) as store:
        store.heartbeat("host-a:41", now=datetime.now(UTC), channels={
            "telegram-en": ChannelView("live"),
            "telegram-ar": ChannelView("needs attention", "TELEGRAM_BOT_TOKEN not set in the "
                                       "bot's environment"),
            "x-en": ChannelView("preview", "preview: true in config.yaml"),
            "morning-digest": ChannelView("live")})
        store.heartbeat("host-b:7", now=datetime.now(UTC) - timedelta(minutes=30),
                        channels={"telegram-en": ChannelView("preview", "gone")})  # long dead
    output = status(project)  # run without any secret in this environment
    assert "workers: host-a:41" in output and "host-b:7" not in output
    assert "[live]" in channel_line(output, "telegram-en")
    assert "needs attention (TELEGRAM_BOT_TOKEN not set" in channel_line(output, "telegram-ar")
    assert "preview (preview: true" in channel_line(output, "x-en")


def test_two_workers_that_disagree_are_both_shown(project: Path) -> None:
    config = load_config(project / "config.yaml")
    with open_store(config.store_url) as store:
        store.heartbeat("a:1", now=datetime.now(UTC),
                        channels={"telegram-en": ChannelView("live")})
        store.heartbeat("b:2", now=datetime.now(UTC), channels={
            "telegram-en": ChannelView("needs attention", "TELEGRAM_BOT_TOKEN not set")})
    line = channel_line(status(project), "telegram-en")
    assert "a:1: live" in line and "b:2: needs attention" in line


def test_a_source_silent_for_three_times_its_usual_gap_is_flagged(project: Path) -> None:
    config = load_config(project / "config.yaml")
    # `newsbot status` reads the wall clock: "now" is taken here, not when the module was
    # imported (minutes earlier in a full run, and "SILENT for 5h" became "5h3m").
    now = datetime.now(UTC)
    seen = now - timedelta(hours=5)
    with open_store(config.store_url) as store:
        for n in range(6):  # one an hour, the last seen 5 hours ago
            store.add_article(FeedItem(
                source_id="world", guid=f"w{n}", url=f"https://news.example.org/w{n}",
                title=f"World {n}", published=seen - timedelta(hours=n)), now=seen)
        store.add_article(FeedItem(source_id="iraq-en", guid="e", title="Fresh",
                                   url="https://news.example.org/e", published=now), now=now)
    output = status(project)
    lines = output.splitlines()
    world = lines[lines.index(next(x for x in lines if x.strip().startswith("world"))) + 1]
    assert f"last new article {seen:%Y-%m-%d %H:%M} UTC" in world
    assert "SILENT for 5h (usually one every 1h)" in world
    assert "SILENT" not in output.split("world")[0]  # iraq-en: too few articles to judge


def test_silence_needs_a_rhythm_to_judge_by() -> None:
    hourly = [NOW - timedelta(hours=n) for n in range(6)]
    assert source_activity(NOW - timedelta(hours=2), hourly, NOW).silent_for is None
    assert source_activity(NOW - timedelta(hours=4), hourly, NOW).silent_for == timedelta(
        hours=4)
    batch = [NOW] * 6  # all published at once: no rhythm
    assert source_activity(NOW - timedelta(days=9), batch, NOW).silent_for is None
