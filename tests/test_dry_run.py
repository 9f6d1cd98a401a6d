"""--dry-run shows each due post once, at the time the real run would send it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.channels.preview import PreviewChannel
from bot.channels.telegram import make_format
from bot.cli import cli
from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.models import DeliveryStatus, FeedItem
from bot.outlets import Outlet
from bot.plan import plan_article
from bot.render import make_environment
from bot.store import Store
from tests.kit import newsroom_yaml

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CONFIG = newsroom_yaml("""
tg:
  type: telegram
  chat: "@c"
  photo: never
  schedule: {windows: ["08:00-20:00"], min_gap: 10m, max_per_day: 3}
""")


def dry_dispatcher(store: Store, tmp_path: Path, articles: int) -> tuple[Dispatcher, io.StringIO]:
    config = parse_config(CONFIG, base_dir=tmp_path)
    for n in range(articles):
        article, _ = store.add_article(FeedItem(
            source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}",
            title=f"Title {n}", summary="A summary sentence.", published=NOW), now=NOW)
        store.create_deliveries(article.id, plan_article(article, config, now=NOW), now=NOW)
    cfg = config.channels["tg"]
    echo = io.StringIO()
    channel = PreviewChannel("tg", tmp_path / "preview", reason="--dry-run was given",
                             markup="html", echo=echo)
    outlets = {"tg": Outlet("tg", cfg, make_format(cfg), channel, "--dry-run was given")}
    return Dispatcher(config=config, store=store, outlets=outlets, env=make_environment(config),
                      clock=lambda: NOW, dry_run=True), echo


async def test_each_due_post_is_previewed_once_with_the_planned_time(
        sqlite_store: Store, tmp_path: Path) -> None:
    dispatcher, echo = dry_dispatcher(sqlite_store, tmp_path, articles=5)
    first = await dispatcher.run_once()
    again = await dispatcher.run_once()  # `run --dry-run` ticks again and again
    assert first.outcomes["previewed"] == 5
    assert again.outcomes["previewed"] == 0
    headings = [line for line in echo.getvalue().splitlines() if line.startswith("[preview]")]
    assert len(headings) == 5
    # gap and daily cap applied as `newsbot plan` does: 09:00, 09:10, 09:20, then tomorrow
    assert "would go Tue 24 Nov 09:00 UTC (due now)" in headings[0]
    assert "would go Tue 24 Nov 09:10 UTC (gap" in headings[1]
    assert "would go Tue 24 Nov 09:20 UTC (gap" in headings[2]
    assert "would go Wed 25 Nov 08:00 UTC (cap reached" in headings[3]
    assert {d.status for d in sqlite_store.deliveries()} == {DeliveryStatus.PENDING}
    assert all(d.attempts == 0 for d in sqlite_store.deliveries())


async def test_a_post_that_becomes_due_later_is_previewed_then(
        sqlite_store: Store, tmp_path: Path) -> None:
    dispatcher, echo = dry_dispatcher(sqlite_store, tmp_path, articles=1)
    await dispatcher.run_once()
    config = dispatcher.config
    later = NOW + timedelta(minutes=1)
    article, _ = sqlite_store.add_article(FeedItem(
        source_id="en", guid="late", url="https://news.example.org/late", title="Late one",
        summary="Another summary.", published=later), now=later)
    sqlite_store.create_deliveries(article.id, plan_article(article, config, now=later),
                                   now=later)
    dispatcher.clock = lambda: later
    report = await dispatcher.run_once()
    assert report.outcomes["previewed"] == 1
    assert "Late one" in echo.getvalue().rsplit("[preview]", 1)[1]
    assert "would go Tue 24 Nov 09:10 UTC (gap" in echo.getvalue().rsplit("[preview]", 1)[1]


def test_once_dry_run_on_the_samples_shows_each_post_once(project: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "once",
                                      "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "· dispatch: 19 previewed" in result.output  # 9 + 4 + 6 posts, not 950
    for channel, posts in (("telegram-en", 9), ("telegram-ar", 4), ("x-en", 6)):
        assert result.output.count(f"[preview] {channel} ·") == posts
