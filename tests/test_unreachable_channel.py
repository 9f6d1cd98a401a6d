"""A channel whose server does not answer is flagged after 3 failed sends in a row (a dead
api_url is not left to retry quietly), and the flag clears when it answers again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.channels.x import make_channel, make_format
from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.errors import RetryableError
from bot.models import DeliveryStatus, FeedItem
from bot.outlets import Outlet
from bot.plan import plan_article
from bot.render import make_environment
from bot.store import Store
from tests.fakes.x_api import FakeXApi
from tests.kit import WallClock
from tests.smtp_server import free_port
from tests.test_dispatch import NOW, setup


async def test_x_at_a_dead_endpoint_needs_attention_after_three_failures(
        sqlite_store: Store, tmp_path: Path, x_api: FakeXApi) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = x_api.channel_settings(api_url=dead)
    body = "".join(f"    {k}: \"{v}\"\n" if isinstance(v, str) else f"    {k}: {v}\n"
                   for k, v in settings.items())
    config = parse_config(f"timezone: UTC\nsources: [{{id: en, url: feed.xml}}]\n"
                          f"channels:\n  x:\n{body}", base_dir=tmp_path)
    cfg = config.channels["x"]
    for n in range(1):  # one post, tried again at each pass
        article, _ = sqlite_store.add_article(FeedItem(
            source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}",
            title=f"Title {n}", summary="A summary sentence.", published=NOW), now=NOW)
        sqlite_store.create_deliveries(article.id, plan_article(article, config, now=NOW),
                                       now=NOW)
    sender = make_channel("x", cfg, config)
    clock = WallClock(NOW)
    dispatcher = Dispatcher(config=config, store=sqlite_store,
                            outlets={"x": Outlet("x", cfg, make_format(cfg), sender)},
                            env=make_environment(config), clock=clock)
    try:
        for attempt in range(1, 4):
            await dispatcher.run_once()
            attention = sqlite_store.channel_state("x").attention
            if attempt < 3:
                assert attention == ""
            clock.now += timedelta(hours=2)
    finally:
        await sender.close()
    assert attention.startswith("unreachable: 3 sends in a row")
    assert dead in attention
    assert {d.status for d in sqlite_store.deliveries()} == {DeliveryStatus.PENDING}


async def test_the_flag_clears_when_the_channel_answers_again(
        sqlite_store: Store, tmp_path: Path) -> None:
    dispatcher, fake, clock = setup(sqlite_store, tmp_path, articles=1)
    fake.errors.extend(RetryableError("tg", "connection refused") for _ in range(3))
    for _ in range(3):
        await dispatcher.run_once()
        clock.now += timedelta(hours=2)
    assert sqlite_store.channel_state("tg").attention.startswith("unreachable:")
    await dispatcher.run_once()
    assert len(fake.sent) >= 1
    assert sqlite_store.channel_state("tg").attention == ""



async def test_waits_the_platform_asked_for_do_not_count(
        sqlite_store: Store, tmp_path: Path) -> None:
    dispatcher, fake, clock = setup(sqlite_store, tmp_path, articles=1)
    fake.errors.extend(RetryableError("tg", "paced: next slot in 2s", retry_after=2)
                       for _ in range(4))
    for _ in range(4):
        await dispatcher.run_once()
        clock.now += timedelta(hours=2)
    assert sqlite_store.channel_state("tg").attention == ""
