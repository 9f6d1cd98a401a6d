"""End to end: `newsbot once` with the sample feeds posts to a local Mastodon instance, and a
send whose answer was lost is retried by dispatch without a second status."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.channels import post_format
from bot.channels.mastodon import make_channel
from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.models import DeliveryStatus, FeedItem
from bot.outlets import Outlet
from bot.plan import plan_article
from bot.render import make_environment
from bot.store import Store
from tests.fakes import mastodon_api as fake
from tests.fakes.mastodon_api import TOKEN, FakeMastodonApi, mastodon_length

mastodon_api = fake.mastodon_api  # the fixture: a fresh instance per test

ROOT = Path(__file__).resolve().parent.parent


def newsbot(api: FakeMastodonApi, workdir: Path, *command: str
            ) -> subprocess.CompletedProcess[str]:
    """Run ``newsbot <command>`` on the sample feeds, with two channels posting to ``api``."""
    config = workdir / "config.yaml"
    config.write_text(f"""
timezone: Asia/Baghdad
store: sqlite:///{workdir}/newsbot.db
preview_dir: {workdir}/preview
backfill: 3650d
fetch:
  offline_pages: {ROOT}/examples/pages
sources:
  - {{id: iraq-en, url: {ROOT}/examples/feeds/en.rss.xml, language: en}}
  - {{id: iraq-ar, url: {ROOT}/examples/feeds/ar.atom.xml, language: ar}}
channels:
  mastodon-en:
    type: mastodon
    access_token: ${{MASTODON_ACCESS_TOKEN}}
    api_url: {api.base_url}
    visibility: unlisted
    route: {{sources: [iraq-en]}}
  mastodon-ar:
    type: mastodon
    access_token: ${{MASTODON_ACCESS_TOKEN}}
    api_url: {api.base_url}
    route: {{sources: [iraq-ar]}}
""", encoding="utf-8")
    env = dict(os.environ, MASTODON_ACCESS_TOKEN=TOKEN)
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "--verbose", *command],
        env=env, capture_output=True, text=True, timeout=120, cwd=workdir)


def test_once_posts_every_sample_article_once_in_its_language_without_the_token(
        mastodon_api: FakeMastodonApi, tmp_path: Path) -> None:
    # Below the 500 the renderer assumes until the sender has asked the instance: a post
    # rendered too long for it is rendered again, within the same run.
    mastodon_api.max_characters = 300

    run = newsbot(mastodon_api, tmp_path, "once")

    assert run.returncode == 0, run.stderr[-2000:]
    statuses = mastodon_api.statuses
    assert sorted(s.language or "" for s in statuses) == ["ar"] * 4 + ["en"] * 6
    assert {s.visibility for s in statuses if s.language == "en"} == {"unlisted"}
    assert {s.visibility for s in statuses if s.language == "ar"} == {"public"}
    assert len({s.text for s in statuses}) == 10  # no article posted twice
    for status in statuses:
        assert not status.text.startswith("---")  # the front matter is read, not posted
        assert mastodon_length(status.text, status.spoiler_text) <= 300
        assert status.idempotency_key
    assert 429 not in [s.status for s in mastodon_api.seen]
    assert "takes posts of up to 300 characters" in run.stderr
    assert TOKEN not in run.stdout + run.stderr

    again = newsbot(mastodon_api, tmp_path, "once")
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(mastodon_api.statuses) == 10


async def test_dispatch_retries_a_lost_answer_and_mastodon_keeps_one_status(
        mastodon_api: FakeMastodonApi, sqlite_store: Store, tmp_path: Path) -> None:
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    config = parse_config(f"""
timezone: UTC
sources: [{{id: en, url: feed.xml}}]
channels:
  mastodon:
    type: mastodon
    access_token: {TOKEN}
    api_url: {mastodon_api.base_url}
    timeout: 0.5
""", base_dir=tmp_path)
    article, _ = sqlite_store.add_article(FeedItem(
        source_id="en", guid="g1", url="https://news.example.org/a/1",
        title="Dams on the Tigris", summary="Water levels fell again.", published=now,
        language="en"), now=now)
    sqlite_store.create_deliveries(article.id, plan_article(article, config, now=now), now=now)
    cfg = config.channels["mastodon"]
    channel = make_channel("mastodon", cfg, config)  # type: ignore[arg-type]
    clock = [now]
    dispatcher = Dispatcher(
        config=config, store=sqlite_store, env=make_environment(config),
        outlets={"mastodon": Outlet("mastodon", cfg, post_format(cfg), channel)},
        clock=lambda: clock[0])
    mastodon_api.hold_after_posting()
    try:
        first = await dispatcher.run_once()
        (delivery,) = sqlite_store.deliveries()
        assert first.outcomes["retry"] == 1
        assert delivery.status is DeliveryStatus.PENDING  # not "unknown": safe to repeat
        assert delivery.due_at == now + timedelta(seconds=30)

        clock[0] = now + timedelta(seconds=30)
        second = await dispatcher.run_once()
    finally:
        await channel.close()

    (status,) = mastodon_api.statuses  # made by the first try; the retry found it
    (delivery,) = sqlite_store.deliveries()
    assert second.outcomes["sent"] == 1
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.receipt_url.endswith(f"/@newsroom/{status.id}")
    assert len(mastodon_api.requests_to("/api/v1/statuses")) == 2
