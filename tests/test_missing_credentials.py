"""A missing secret under `newsbot run` holds the channel; it never throws its posts away."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.models import DeliveryStatus, FeedItem
from bot.plan import plan_article
from bot.scheduler import Service
from bot.store import Store, open_store
from bot.web.health import health_report
from tests.fakes import telegram_api as fake_api
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.kit import newsroom_yaml

telegram_api = fake_api.telegram_api

CONFIG = newsroom_yaml("""
tg:
  type: telegram
  token: ${TELEGRAM_BOT_TOKEN}
  chat: "@c"
  api_url: API
  photo: never
""", store="sqlite:///bot.db", extra="web: {enabled: false}\n")

async def started(path: Path, articles: int = 0) -> Service:
    config = load_config(path)
    store = open_store(config.store_url)
    announce(store, config, articles)  # before the service's own jobs use the store
    svc = Service(path, config, store, worker="w-1")
    await svc.start()
    assert svc.scheduler is not None
    svc.scheduler.pause()  # the test is the clock
    return svc


async def stopped(svc: Service) -> None:
    await svc.stop()
    svc.store.close()


def announce(store: Store, config: Config, n: int) -> None:
    now = datetime.now(UTC)
    for i in range(n):
        article, _ = store.add_article(FeedItem(
            source_id="en", guid=f"g{i}", url=f"https://news.example.org/{i}",
            title=f"Title {i}", summary="A summary.", published=now), now=now)
        store.create_deliveries(article.id, plan_article(article, config, now=now), now=now)


async def test_run_without_the_token_holds_the_channel_and_posts_stay_pending_until_it_comes(
        tmp_path: Path, telegram_api: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.replace("API", telegram_api.base_url))
    svc = await started(path, articles=3)
    try:
        await svc.dispatch_tick()
        assert {d.status for d in svc.store.deliveries()} == {DeliveryStatus.PENDING}
        assert not (tmp_path / "preview").exists()
        _, body = health_report(svc, states=svc.store.channel_states())
        tg = body["channels"]["tg"]
        assert tg["mode"] == "needs attention" and tg["paused"] is True
        assert "TELEGRAM_BOT_TOKEN not set" in tg["attention"]
        (worker,) = svc.store.live_workers(datetime.now(UTC))
        assert worker.channels["tg"].mode == "needs attention"
    finally:
        await stopped(svc)

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)  # the operator sets it and restarts
    svc = await started(path)
    try:
        await svc.dispatch_tick()
        assert {d.status for d in svc.store.deliveries()} == {DeliveryStatus.SENT}
        assert len(telegram_api.messages) == 3
    finally:
        await stopped(svc)
    assert open_store(f"sqlite:///{tmp_path / 'bot.db'}").live_workers(datetime.now(UTC)) == []


async def test_a_channel_with_preview_true_is_previewed_and_consumed_under_run(
        tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.replace("API", "https://api.telegram.org")
                    .replace("    photo: never\n", "    photo: never\n    preview: true\n"))
    svc = await started(path, articles=2)
    try:
        await svc.dispatch_tick()
        deliveries = svc.store.deliveries()
        assert {d.status for d in deliveries} == {DeliveryStatus.SKIPPED}
        assert "preview: true" in deliveries[0].note
        assert len(list((tmp_path / "preview" / "tg").iterdir())) == 2
        assert svc.views()["tg"].mode == "preview"
    finally:
        await stopped(svc)
