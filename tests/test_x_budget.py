"""The X channel's monthly budget, end to end: the dispatcher, the store (both databases) and
the X channel posting to a local X API-compatible server. A thread is billed per part, so a
thread that would overrun the month waits for next month, and cheaper posts go first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels.x import make_channel, make_format
from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.models import DeliveryStatus, FeedItem
from bot.outlets import Outlet
from bot.plan import plan_article
from bot.render import make_environment
from bot.store import Store
from tests.fakes.x_api import FakeXApi
from tests.kit import WallClock

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LONG = " ".join(f"Sentence {n} of a long report on the dams of the Tigris and Euphrates."
                for n in range(20))


@pytest.fixture
async def setup(store: Store, tmp_path: Path, x_api: FakeXApi
                ) -> AsyncIterator[tuple[Dispatcher, WallClock]]:
    settings = x_api.channel_settings()
    config = parse_config(f"""
timezone: Asia/Baghdad
sources: [{{id: en, url: feed.xml}}]
channels:
  x-en:
    type: x
    api_key: {settings['api_key']}
    api_secret: {settings['api_secret']}
    access_token: {settings['access_token']}
    access_secret: {settings['access_secret']}
    api_url: {settings['api_url']}
    media: false
    thread: true
    monthly_budget: 0.60
    price_with_url: 0.20
    price_without_url: 0.015
""", base_dir=tmp_path)
    cfg = config.channels["x-en"]
    channel = make_channel("x-en", cfg, config)
    clock = WallClock(NOW)
    dispatcher = Dispatcher(config=config, store=store,
                            outlets={"x-en": Outlet("x-en", cfg, make_format(cfg), channel)},
                            env=make_environment(config), clock=clock)
    yield dispatcher, clock
    await channel.close()


def announce(store: Store, dispatcher: Dispatcher, n: int, summary: str, at: datetime) -> int:
    article, _ = store.add_article(FeedItem(
        source_id="en", guid=f"g{n}", url=f"https://news.example.org/a/{n}",
        title=f"Headline {n}", summary=summary, published=at), now=at)
    store.create_deliveries(article.id, plan_article(article, dispatcher.config, now=at), now=at)
    return article.id


async def test_a_thread_that_would_overrun_the_budget_waits_and_cheaper_posts_go_first(
        store: Store, x_api: FakeXApi, setup: tuple[Dispatcher, WallClock]) -> None:
    dispatcher, clock = setup
    for n in range(2):  # two single posts with a link: $0.40 of $0.60
        announce(store, dispatcher, n, "Short.", NOW - timedelta(minutes=10 - n))
        await dispatcher.run_once()
        clock.now += timedelta(minutes=1)
    assert len(x_api.tweets) == 2

    thread_id = announce(store, dispatcher, 2, LONG, clock.now - timedelta(minutes=2))
    announce(store, dispatcher, 3, "Short again.", clock.now - timedelta(minutes=1))
    await dispatcher.run_once()

    # $0.20 is left: enough for one post with a link (it went), not for the thread.
    texts = [t.text for t in x_api.tweets]
    assert len(texts) == 3 and "Headline 3" in texts[2]
    assert not any("Headline 2" in t or "Sentence 19" in t for t in texts)
    waiting = next(d for d in store.deliveries() if d.article_id == thread_id)
    assert waiting.status is DeliveryStatus.PENDING
    assert waiting.due_at == datetime(2026, 11, 30, 21, 0, tzinfo=UTC)  # 1 Dec in Baghdad
    assert "monthly budget reached: this thread of" in waiting.note
    assert "$0.20 of $0.60 is left" in waiting.note
    assert waiting.attempts == 0  # waiting for money is not a failed try

    # On the first of next month the budget is fresh and the whole thread goes out.
    clock.now = datetime(2026, 11, 30, 21, 0, 1, tzinfo=UTC)
    await dispatcher.run_once()
    thread = x_api.tweets[3:]
    assert len(thread) >= 2 and "Headline 2" in thread[0].text
    assert [t.reply_to for t in thread[1:]] == [t.id for t in thread[:-1]]
    sent = next(d for d in store.deliveries() if d.article_id == thread_id)
    assert sent.status is DeliveryStatus.SENT
    posts, dollars = store.spend_since("x-en", clock.now - timedelta(seconds=1))
    assert posts == 1 and dollars == pytest.approx(0.20 + 0.015 * (len(thread) - 1))
