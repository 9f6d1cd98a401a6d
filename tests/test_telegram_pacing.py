"""The pacer keeps Telegram's limits: 1/s and 20/min per chat, 30/s for the whole bot."""

from __future__ import annotations

import itertools

import pytest

from bot.channels.telegram_pacing import Limits, Pacer, PacingDeferred, shared_pacer


class Clock:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def pacer(clock: Clock) -> Pacer:
    return Pacer(Limits(margin=0.0), clock=clock, sleep=clock.sleep)


def test_first_message_to_a_chat_goes_at_once() -> None:
    clock = Clock()
    assert pacer(clock).reserve("@a") == clock.now


def test_messages_to_one_chat_are_a_second_apart() -> None:
    clock = Clock()
    paced = pacer(clock)
    slots = [paced.reserve("@a") for _ in range(3)]
    assert [s - clock.now for s in slots] == [0.0, 1.0, 2.0]


def test_margin_is_added_to_each_gap() -> None:
    clock = Clock()
    paced = Pacer(Limits(margin=0.05), clock=clock, sleep=clock.sleep)
    paced.reserve("@a")
    assert paced.reserve("@a") - clock.now == pytest.approx(1.05)


def test_twenty_first_message_in_a_minute_waits_for_the_window() -> None:
    clock = Clock()
    paced = pacer(clock)
    slots = [paced.reserve("@a") for _ in range(21)]
    assert slots[19] - slots[0] == 19.0
    assert slots[20] - slots[0] == 60.0


def test_other_chats_are_not_held_back_by_a_busy_one() -> None:
    clock = Clock()
    paced = pacer(clock)
    for _ in range(5):
        paced.reserve("@busy")
    assert paced.reserve("@calm") - clock.now < 0.1


def test_overall_rate_stays_under_thirty_per_second() -> None:
    clock = Clock()
    paced = pacer(clock)
    slots = sorted(paced.reserve(f"@chat{i}") for i in range(90))
    assert all(b - a >= 1 / 30 - 1e-9 for a, b in itertools.pairwise(slots))
    assert sum(1 for s in slots if s < clock.now + 1.0) <= 30


def test_429_blocks_that_chat_for_retry_after() -> None:
    clock = Clock()
    paced = pacer(clock)
    paced.block("@a", 12)
    assert paced.reserve("@a") - clock.now == 12
    assert paced.reserve("@b") - clock.now < 0.1


async def test_wait_sleeps_until_the_slot() -> None:
    clock = Clock()
    paced = pacer(clock)
    await paced.wait("@a")
    start = clock.now
    await paced.wait("@a")
    assert clock.now - start == 1.0


async def test_wait_defers_instead_of_waiting_too_long_and_frees_the_slot() -> None:
    clock = Clock()
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
    assert paced2.reserve("@b") - clock.now == 60.0  # the deferred slot was given back


def test_channels_on_one_bot_share_a_pacer() -> None:
    assert shared_pacer("1:a", "http://x") is shared_pacer("1:a", "http://x")
    assert shared_pacer("1:a", "http://x") is not shared_pacer("2:b", "http://x")
