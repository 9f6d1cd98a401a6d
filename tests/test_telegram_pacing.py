"""Telegram's limits are kept once: 1/s per chat and 20/min per group or channel in the store
(across workers), 30/s per bot and 429 blocks in the channel's pacer, which re-checks the
per-chat limits only as a safety net and never waits after the store has let a post go.

The first half tests the pacer alone; the second runs the real dispatcher, store and Telegram
channel against the strict fake Bot API server, all on one virtual clock, so a minute of
Telegram's limits passes in well under a second.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels.telegram import TelegramSender, make_format
from bot.channels.telegram_pacing import (
    Limits,
    Pacer,
    PacingDeferred,
    is_private_chat,
    shared_pacer,
)
from bot.channels.telegram_platform import TelegramChannel
from bot.config import parse_config
from bot.dispatch import Dispatcher, platform_pace
from bot.models import DeliveryStatus, FeedItem
from bot.outlets import Outlet
from bot.plan import plan_article
from bot.render import make_environment
from bot.store import Store
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.kit import MonotonicClock

# PTB itself warns, inside RetryAfter(), that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


def pacer(clock: MonotonicClock) -> Pacer:
    return Pacer(Limits(margin=0.0), clock=clock, sleep=clock.sleep)


# -- the pacer --------------------------------------------------------------------------------


def test_first_message_to_a_chat_goes_at_once() -> None:
    clock = MonotonicClock()
    assert pacer(clock).reserve("@a").at == clock.now


def test_messages_to_one_chat_are_a_second_apart() -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    slots = [paced.reserve("@a").at for _ in range(3)]
    assert [s - clock.now for s in slots] == [0.0, 1.0, 2.0]


def test_margin_is_added_to_a_gap_after_a_send_still_in_flight() -> None:
    clock = MonotonicClock()
    paced = Pacer(Limits(margin=0.05), clock=clock, sleep=clock.sleep)
    paced.reserve("@a")
    assert paced.reserve("@a").at - clock.now == pytest.approx(1.05)


def test_a_gap_after_an_answered_send_counts_from_the_answer_with_no_margin() -> None:
    # The store lets the next post go a second after the previous answer: the pacer agrees
    # to the instant, so it never adds a wait of its own on top.
    clock = MonotonicClock()
    paced = Pacer(Limits(margin=0.05), clock=clock, sleep=clock.sleep)
    first = paced.reserve("@a")
    clock.now += 0.2  # the round trip
    paced.sent(first)
    clock.now += 1.0
    assert paced.reserve("@a").at == clock.now


def test_twenty_first_message_in_a_minute_to_a_channel_waits_for_the_window() -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    slots = [paced.reserve("@a").at for _ in range(21)]
    assert slots[19] - slots[0] == 19.0
    assert slots[20] - slots[0] == 60.0


@pytest.mark.parametrize("chat", ["@news", "-1001234567890", "-4001"])
def test_groups_and_channels_are_held_to_twenty_a_minute(chat: str) -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    slots = [paced.reserve(chat).at for _ in range(21)]
    assert slots[20] - slots[0] == 60.0
    assert not is_private_chat(chat)
    pace = platform_pace(TelegramChannel(type="telegram", chat=chat))
    assert pace is not None and pace.per_minute == 20


def test_a_private_chat_gets_one_a_second_but_no_twenty_a_minute_rule() -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    slots = [paced.reserve("4242").at for _ in range(25)]
    assert [s - slots[0] for s in slots] == [float(n) for n in range(25)]
    pace = platform_pace(TelegramChannel(type="telegram", chat=4242))
    assert pace is not None and pace.per_minute is None
    assert pace.min_interval == timedelta(seconds=1)


def test_a_send_telegram_refused_does_not_hold_the_chat() -> None:
    # A photo Telegram would not take goes out as text at once, not a second later.
    clock = MonotonicClock()
    paced = pacer(clock)
    photo = paced.reserve("@a")
    paced.refused(photo)
    assert paced.reserve("@a").at - clock.now < 0.1


def test_two_channels_to_one_chat_are_spaced_by_the_safety_net() -> None:
    # The store paces each configured channel alone; the bot's shared pacer sees the chat.
    clock = MonotonicClock()
    paced = pacer(clock)
    first = paced.reserve("@shared")  # channel "breaking"
    clock.now += 0.3
    paced.sent(first)
    assert paced.reserve("@shared").at == first.at + 0.3 + 1.0  # channel "all"


def test_other_chats_are_not_held_back_by_a_busy_one() -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    for _ in range(5):
        paced.reserve("@busy")
    assert paced.reserve("@calm").at - clock.now < 0.1


def test_overall_rate_stays_under_thirty_per_second() -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    slots = sorted(paced.reserve(f"@chat{i}").at for i in range(90))
    assert all(b - a >= 1 / 30 - 1e-9 for a, b in itertools.pairwise(slots))
    assert sum(1 for s in slots if s < clock.now + 1.0) <= 30


def test_429_blocks_that_chat_for_retry_after() -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    paced.block("@a", 12)
    assert paced.reserve("@a").at - clock.now == 12
    assert paced.reserve("@b").at - clock.now < 0.1


async def test_wait_sleeps_until_the_slot() -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    await paced.wait("@a")
    start = clock.now
    await paced.wait("@a")
    assert clock.now - start == 1.0


async def test_wait_defers_instead_of_waiting_too_long_and_frees_the_slot() -> None:
    clock = MonotonicClock()
    paced = pacer(clock)
    paced.block("@a", 100)
    with pytest.raises(PacingDeferred) as caught:
        await paced.wait("@a", max_wait=5)
    assert caught.value.rate_limited and caught.value.delay == 100
    paced2 = pacer(clock)
    for _ in range(20):
        paced2.reserve("@b")
    with pytest.raises(PacingDeferred) as caught:
        await paced2.wait("@b", max_wait=5)
    assert not caught.value.rate_limited
    assert paced2.reserve("@b").at - clock.now == 60.0  # the deferred slot was given back


def test_channels_on_one_bot_share_a_pacer() -> None:
    assert shared_pacer("1:a", "http://x") is shared_pacer("1:a", "http://x")
    assert shared_pacer("1:a", "http://x") is not shared_pacer("2:b", "http://x")


# -- dispatcher, store, channel and the strict fake server on one virtual clock ----------------

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TICK = 15.0  # newsbot run's dispatch tick (dispatch_every's default)


class Rig:
    """A real dispatcher over ``store`` posting ``posts`` articles to ``chat`` on the fake."""

    def __init__(self, store: Store, api: FakeTelegramAPI, clock: MonotonicClock, tmp_path: Path,
                 chat: str, posts: int) -> None:
        self.store, self.api, self.clock = store, api, clock
        config = parse_config(f"""
timezone: UTC
sources: [{{id: en, url: feed.xml}}]
channels:
  tg:
    type: telegram
    chat: "{chat}"
    token: "{TOKEN}"
    api_url: {api.base_url}
    photo: never
""", base_dir=tmp_path)
        for n in range(posts):
            article, _ = store.add_article(FeedItem(
                source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}",
                title=f"Title {n}", summary="A summary sentence.", published=NOW), now=NOW)
            store.create_deliveries(article.id, plan_article(article, config, now=NOW),
                                    now=NOW)
        cfg = config.channels["tg"]
        assert isinstance(cfg, TelegramChannel)
        self.channel = TelegramSender("tg", cfg, pacer=Pacer(clock=clock, sleep=clock.sleep))
        outlets = {"tg": Outlet("tg", cfg, make_format(cfg), self.channel)}
        self.dispatcher = Dispatcher(config=config, store=store, outlets=outlets,
                                     env=make_environment(config), clock=self.wall,
                                     pace_sleep=clock.sleep)
        self.started = clock.now

    def wall(self) -> datetime:
        return NOW + timedelta(seconds=self.clock.now - self.started)

    async def run(self, *, until: int, limit: float = 300.0) -> list[float]:
        """Dispatch ticks as ``newsbot run`` makes them (a tick due during a pass is
        skipped) until ``until`` messages were accepted; their arrival times, from the
        first tick."""
        while len(self.api.messages) < until and self.clock.now - self.started < limit:
            start = self.clock.now
            await self.dispatcher.run_once()
            took = self.clock.now - start
            self.clock.now = start + TICK * max(1, math.ceil(took / TICK - 1e-9))
        await self.channel.close()
        return [m.at - self.started for m in self.api.messages]


@pytest.fixture
def clock() -> MonotonicClock:
    return MonotonicClock()


@pytest.fixture
def strict_api(clock: MonotonicClock) -> Iterator[FakeTelegramAPI]:
    """The fake Bot API server with Telegram's flood limits, on the test's clock."""
    with FakeTelegramAPI(clock=clock) as api:
        yield api


async def test_a_burst_to_a_private_chat_is_not_held_to_twenty_a_minute(
        store: Store, strict_api: FakeTelegramAPI, clock: MonotonicClock, tmp_path: Path) -> None:
    arrivals = await Rig(store, strict_api, clock, tmp_path, "4242", 25).run(until=25)
    assert len(arrivals) == 25 and strict_api.count(429) == 0
    # 20 a minute would put the 21st a minute after the first; a private chat gets one a
    # second from the first to the last, with no wait on top of the store's pace.
    assert arrivals[20] - arrivals[0] < 60.0
    assert arrivals == pytest.approx([float(n) for n in range(25)], abs=1e-3)
    assert {d.status for d in store.deliveries()} == {DeliveryStatus.SENT}


async def test_a_burst_to_a_channel_goes_a_second_apart_and_twenty_a_minute_without_429(
        store: Store, strict_api: FakeTelegramAPI, clock: MonotonicClock, tmp_path: Path) -> None:
    arrivals = await Rig(store, strict_api, clock, tmp_path, "@newsroom", 22).run(until=22)
    assert len(arrivals) == 22 and strict_api.count(429) == 0
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 1.0 - 1e-3
    assert all(arrivals[k + 20] - arrivals[k] >= 60.0 - 1e-3 for k in range(2))
    # No double wait: the first twenty are exactly a second apart (the store's pace alone),
    # and the 21st goes when the minute is up, at the first tick after it.
    assert arrivals[:20] == pytest.approx([float(n) for n in range(20)], abs=1e-3)
    assert 60.0 - 1e-3 <= arrivals[20] <= 60.0 + TICK


async def test_a_429_holds_the_chat_for_telegrams_retry_after_then_all_posts_go(
        store: Store, strict_api: FakeTelegramAPI, clock: MonotonicClock, tmp_path: Path) -> None:
    strict_api.fail_next(429, chat="@newsroom", retry_after=5)
    arrivals = await Rig(store, strict_api, clock, tmp_path, "@newsroom", 3).run(until=3)
    assert strict_api.count(429) == 1  # the injected one; nothing else was refused
    assert len(arrivals) == 3 and min(arrivals) >= 5.0 - 1e-3
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 1.0 - 1e-3
    assert {d.status for d in store.deliveries()} == {DeliveryStatus.SENT}
