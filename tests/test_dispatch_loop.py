"""`newsbot run` dispatches a channel when the store says a post may go, not on a fixed tick.

The dispatch tick (dispatch_every) is 60 s in these tests, so a post that goes within a
second went because the loop woke for it: a poke after new deliveries, or the due time the
store knew. Real dispatcher, store, Telegram channel and the local Bot API server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config, Schedule, parse_config
from bot.dispatch import Dispatcher
from bot.dispatch_loop import DispatchLoop
from bot.models import ChannelHistory, Delivery, DeliveryStatus, FeedItem, NewDelivery
from bot.operations import make_dispatcher
from bot.outlets import build_outlets, close_outlets
from bot.plan import PlatformPace, next_send_at, pick_due
from bot.store import Store, open_store
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI


@pytest.fixture
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'newsbot.db'}")
    yield opened
    opened.close()


@pytest.fixture
def config(api: FakeTelegramAPI, tmp_path: Path) -> Config:
    channels = "".join(f"""
  {name}:
    type: telegram
    chat: "@{name}"
    token: "{TOKEN}"
    api_url: {api.base_url}
    photo: never""" for name in ("quiet", "busy"))
    return parse_config(f"""
timezone: UTC
dispatch_every: 60s
sources: [{{id: en, url: feed.xml}}]
channels:{channels}
""", base_dir=tmp_path)


@pytest.fixture
async def dispatcher(config: Config, store: Store) -> AsyncIterator[Dispatcher]:
    outlets = build_outlets(config)
    yield make_dispatcher(config, store, outlets)
    await close_outlets(outlets)


@pytest.fixture
async def loop(dispatcher: Dispatcher) -> AsyncIterator[DispatchLoop]:
    running = DispatchLoop(lambda: dispatcher, every=lambda: 60.0)
    yield running
    await running.stop(cancel_passes=True)


def add_post(store: Store, channel: str, key: str, *, due_in: float = 0.0) -> None:
    now = datetime.now(UTC)
    article, _ = store.add_article(FeedItem(
        source_id="en", guid=key, url=f"https://news.example.org/{key}", title=f"Story {key}",
        summary="A summary sentence.", published=now), now=now)
    store.create_deliveries(article.id, [NewDelivery(channel, now + timedelta(seconds=due_in))],
                            now=now)


async def arrival(api: FakeTelegramAPI, chat: str, *, within: float = 5.0) -> float:
    """time.monotonic() when the first post to ``chat`` reached the server."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for message in list(api.messages):
            if message.chat == chat:
                return message.at
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing reached {chat} within {within} s")


async def test_a_new_post_goes_at_once_when_the_poll_pokes_the_loop(
        loop: DispatchLoop, store: Store, api: FakeTelegramAPI) -> None:
    loop.start()
    await asyncio.sleep(0.2)  # it found nothing to do: its next tick is a minute away
    add_post(store, "quiet", "a")
    poked = time.monotonic()
    loop.poke()
    assert await arrival(api, "@quiet") - poked < 1.0


async def test_a_post_due_later_goes_at_its_due_time_not_at_the_next_tick(
        loop: DispatchLoop, store: Store, api: FakeTelegramAPI) -> None:
    add_post(store, "quiet", "a", due_in=0.6)
    started = time.monotonic()
    loop.start()
    assert 0.5 <= await arrival(api, "@quiet") - started < 1.3


async def test_a_channel_stuck_in_a_send_does_not_hold_up_another_channels_post(
        loop: DispatchLoop, store: Store, api: FakeTelegramAPI) -> None:
    api.hang_next(chat="@busy")  # accepted, never answered: its pass waits for the timeout
    add_post(store, "busy", "a")
    loop.start()
    await arrival(api, "@busy")
    add_post(store, "quiet", "b")
    poked = time.monotonic()
    loop.poke()
    assert await arrival(api, "@quiet") - poked < 1.0


# -- when the loop wakes: the planner's answer held back by the platform's pace (pure) -------

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TELEGRAM_CHANNEL = PlatformPace(min_interval=timedelta(seconds=1), per_minute=20)


def sent_at(*seconds: float) -> ChannelHistory:
    return ChannelHistory("c", tuple(sorted((T0 + timedelta(seconds=s) for s in seconds),
                                            reverse=True)))


def pending(due: datetime) -> list[Delivery]:
    return [Delivery(id=1, article_id=1, channel="c", status=DeliveryStatus.PENDING,
                     due_at=due)]


def test_after_twenty_posts_in_a_minute_the_next_may_go_when_the_first_leaves_the_window(
        ) -> None:
    history = sent_at(*range(20))  # one a second from 09:00:00 to 09:00:19
    now = T0 + timedelta(seconds=20)
    at = next_send_at(history, pending(T0), now, schedule=Schedule(), zone=UTC,
                      pace=TELEGRAM_CHANNEL)
    assert at == T0 + timedelta(seconds=60)
    assert pick_due(history, pending(T0), at, schedule=Schedule(), zone=UTC,
                    pace=TELEGRAM_CHANNEL) == [1]  # the store agrees at that moment
    assert pick_due(history, pending(T0), at - timedelta(milliseconds=1), schedule=Schedule(),
                    zone=UTC, pace=TELEGRAM_CHANNEL) == []


def test_the_next_post_waits_a_second_after_the_last_answer_and_for_its_own_due_time(
        ) -> None:
    now = T0 + timedelta(seconds=10.2)
    assert next_send_at(sent_at(10), pending(T0), now, schedule=Schedule(), zone=UTC,
                        pace=TELEGRAM_CHANNEL) == T0 + timedelta(seconds=11)
    later = T0 + timedelta(minutes=5)
    assert next_send_at(sent_at(10), pending(later), now, schedule=Schedule(), zone=UTC,
                        pace=TELEGRAM_CHANNEL) == later
