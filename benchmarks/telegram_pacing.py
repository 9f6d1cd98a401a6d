"""Benchmark: 200 posts for 10 Telegram channels against a server enforcing Telegram's limits.

Runs the real channel (``TelegramSender``, shared per-bot pacer) against the local Bot API
server from the tests, with flood control at Telegram's documented figures: one message per
second per chat, 20 per minute per channel, 30 per second overall. Each channel's queue is
worked by one task, as a dispatcher would; all channels run at once. Reports the total time,
messages per second, the minimum time the limits allow, and the number of 429 answers
(target: 0, and within 10% of the minimum). Under ``newsbot run`` the store decides the
per-chat pace before a post is claimed and the channel's pacer only re-checks it, counting
from Telegram's answers as the store does; this measures the channel on its own.

    .venv/bin/python benchmarks/telegram_pacing.py [--scenario even|skewed|both|private]
    .venv/bin/python benchmarks/telegram_pacing.py --through-run [--minutes 3]

"even" gives each channel 20 posts (the per-second limit binds); "skewed" gives one channel
40 (the 20-per-minute limit binds, so it takes over a minute). "both" (the default) runs
those two. "private" sends 30 posts to each of 3 private chats (users), which Telegram holds
to one message a second but not to 20 a minute: about 30 s, not over a minute.

``--through-run`` measures the whole bot instead (benchmarks/telegram_through_run.py): a real
``newsbot run`` process polls local feeds that keep 3 channels' backlogs standing, for
--minutes, and reports each channel's rate against 20 a minute, the 429s, and how long an
article due at once takes from its poll to the chat.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.channels.telegram import TelegramSender
from bot.channels.telegram_platform import TelegramChannel
from bot.errors import ChannelError, RetryableError
from bot.models import RenderedPost
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, FloodLimits

SCENARIOS = {
    "even": [20] * 10,
    "skewed": [40, 30, 25, 20, 20, 20, 15, 12, 10, 8],
    "private": [30] * 3,
}
PRIVATE = {"private"}  # scenarios whose chats are users' private chats (positive ids)


def minimum_time(counts: list[int], limits: FloodLimits, *, private: bool = False) -> float:
    """The least time from first to last message that Telegram's limits allow."""
    longest = 0.0
    for count in counts:
        slots: list[float] = []
        for k in range(count):
            slot = 0.0
            if slots:
                slot = slots[-1] + limits.per_chat_interval
            if k >= limits.per_chat_per_window and not private:
                slot = max(slot, slots[k - limits.per_chat_per_window] + limits.per_chat_window)
            slots.append(slot)
        longest = max(longest, slots[-1] if slots else 0.0)
    overall = (sum(counts) - 1) / limits.overall_per_second
    return max(longest, overall)


async def run(name: str, counts: list[int]) -> None:
    limits = FloodLimits()
    private = name in PRIVATE
    with FakeTelegramAPI(limits=limits) as api:
        channels = [
            TelegramSender(f"bench-{i}", TelegramChannel(
                type="telegram", token=TOKEN, chat=f"{1000001 + i}" if private else f"@bench{i}",
                api_url=api.base_url))
            for i in range(len(counts))
        ]
        failures: list[ChannelError] = []
        deferrals = 0

        async def work(channel: TelegramSender, count: int) -> None:
            # Like the dispatcher: a retryable error is rescheduled after its retry_after.
            nonlocal deferrals
            for n in range(count):
                post = RenderedPost(channel=channel.name, article_id=n,
                                    text=f"<b>Post {n}</b> for {channel.name} &amp; friends",
                                    link=f"https://news.example.org/{n}")
                while True:
                    try:
                        await channel.send(post)
                        break
                    except RetryableError as exc:
                        deferrals += 1
                        await asyncio.sleep(exc.retry_after or 1.0)
                    except ChannelError as exc:
                        failures.append(exc)
                        break

        # Connect (getMe) before the clock starts: the benchmark is about pacing.
        await asyncio.gather(*(c._ensure_ready() for c in channels))
        started = time.monotonic()
        await asyncio.gather(*(work(c, n) for c, n in zip(channels, counts, strict=True)))
        elapsed = time.monotonic() - started
        await asyncio.gather(*(c.close() for c in channels))
        arrivals = sorted(m.at for m in api.messages)
        span = arrivals[-1] - arrivals[0] if arrivals else 0.0
        total = sum(counts)
        least = minimum_time(counts, limits, private=private)
        print(f"scenario {name}: {total} posts to {len(counts)} chats {counts}")
        print(f"  accepted {len(api.messages)}, 429s {api.count(429)}, "
              f"failures {len(failures)}, waits handed back to the caller {deferrals}")
        print(f"  total time {elapsed:.2f}s (first to last arrival {span:.2f}s)")
        print(f"  limit-imposed minimum {least:.2f}s first to last "
              f"→ {span / least - 1:+.1%} over the minimum" if least else "")
        print(f"  achieved {total / elapsed:.2f} msg/s; the limits allow at most "
              f"{(total - 1) / least:.2f} msg/s for this mix" if least else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "both"], default="both")
    parser.add_argument("--through-run", action="store_true",
                        help="a standing backlog through a real `newsbot run` process")
    parser.add_argument("--minutes", type=float, default=3.0, help="with --through-run")
    args = parser.parse_args()
    if args.through_run:
        from benchmarks.telegram_through_run import through_run

        sys.exit(0 if through_run(args.minutes) else 1)
    names = ["even", "skewed"] if args.scenario == "both" else [args.scenario]
    for name in names:
        asyncio.run(run(name, SCENARIOS[name]))


if __name__ == "__main__":
    main()
