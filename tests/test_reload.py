"""Hot reload on a running Service: good edits take effect, bad ones are refused while the bot
keeps posting, and a removed channel's pending deliveries are kept and reported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import load_config
from bot.editor import plan
from bot.models import DeliveryStatus, FeedItem
from bot.operations import status
from bot.plan import Why, plan_article
from bot.reload import config_for_status
from bot.scheduler import Service
from bot.store import Store, open_store
from tests.kit import newsroom_yaml

# The web server is off: the SIGHUP test waits for the service's background tasks, and a
# server on :8080 would be one of them (and would clash with any other test's).
CONFIG = newsroom_yaml("""
tg:
  type: telegram
  chat: "@c"
  preview: true
  schedule: {max_per_day: MAX}
""", """
tg-2:
  type: telegram
  chat: "@d"
  preview: true
""", store="sqlite:///bot.db", extra="web: {enabled: false}\n")


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    path = tmp_path / "config.yaml"
    write(path, CONFIG.replace("MAX", "40"))
    config = load_config(path)
    store = open_store(config.store_url)
    svc = Service(path, config, store)
    await svc.start()
    assert svc.scheduler is not None
    svc.scheduler.pause()  # the test is the clock: ticks are called by hand
    yield svc
    await svc.stop()
    store.close()


def announce(store: Store, svc: Service, n: int) -> None:
    now = datetime.now(UTC)
    article, _ = store.add_article(FeedItem(
        source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}", title=f"Title {n}",
        published=now), now=now)
    store.create_deliveries(article.id, plan_article(article, svc.config, now=now), now=now)


async def test_a_bad_edit_is_rejected_and_the_bot_keeps_posting(service: Service) -> None:
    assert service.reloader is not None
    write(service.config_path, CONFIG.replace("MAX", "0"))
    result = await service.reloader.check()
    assert result is not None and not result.changed
    assert "channels.tg.schedule.max_per_day: must be at least 1" in result.message
    assert service.config.channels["tg"].schedule.max_per_day == 40  # still running on it

    announce(service.store, service, 1)
    await service.dispatch_tick()
    statuses = {d.status for d in service.store.deliveries()}
    assert statuses == {DeliveryStatus.SKIPPED}  # previewed (no token): it went through

    # `newsbot status` describes the running configuration and says the edit was refused.
    config, line = config_for_status(Path(service.config_path))
    assert config.channels["tg"].schedule.max_per_day == 40
    assert "REJECTED" in line and "max_per_day: must be at least 1" in line
    assert "max_per_day" in status(config, service.store).reload_error

    write(service.config_path, CONFIG.replace("MAX", "5"))  # fixed
    result = await service.reloader.check()
    assert result is not None and result.changed
    assert service.config.channels["tg"].schedule.max_per_day == 5
    assert status(service.config, service.store).reload_error == ""


async def test_a_removed_channel_gets_nothing_new_and_its_pending_rows_are_kept(
        service: Service) -> None:
    assert service.reloader is not None
    service.store.update_channel("tg-2", now=datetime.now(UTC), paused=True)
    announce(service.store, service, 1)  # pending on tg-2 (paused)
    write(service.config_path, CONFIG.replace("MAX", "40").split("  tg-2:")[0])
    result = await service.reloader.check()
    assert result is not None and result.changed and result.removed == ("tg-2",)
    assert set(service.outlets) == {"tg"}

    announce(service.store, service, 2)
    channels = [d.channel for d in service.store.deliveries()]
    assert channels.count("tg-2") == 1 and channels.count("tg") == 2
    view = status(service.config, service.store)
    assert [(name, counts) for name, counts in view.removed_channels] == [
        ("tg-2", {"pending": 1})]
    removed = [p for p in plan(service.config, service.store, now=datetime.now(UTC))
               if p.channel == "tg-2"]
    assert removed[0].removed and [p.why for p in removed[0].posts] == [Why.REMOVED]


async def test_a_template_that_does_not_compile_is_refused(service: Service) -> None:
    assert service.reloader is not None
    folder = Path(service.config_path).parent / "mine"
    folder.mkdir()
    write(folder / "post.html.j2", "<b>{{ article.title }</b>")
    write(service.config_path, CONFIG.replace("MAX", "40").replace(
        'chat: "@c"', 'chat: "@c"\n    template: post.html.j2') + "templates_dir: mine\n")
    result = await service.reloader.check()
    assert result is not None and not result.changed
    assert "channels.tg.template" in result.message and "line 1" in result.message


async def test_sighup_reloads_at_once(service: Service) -> None:
    write(service.config_path, CONFIG.replace("MAX", "7"))
    service.request_reload()  # what run_service's SIGHUP handler calls
    await asyncio.gather(*service._tasks)
    assert service.config.channels["tg"].schedule.max_per_day == 7
