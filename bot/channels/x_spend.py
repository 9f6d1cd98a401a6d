"""What an X post costs, and whether the month's budget allows the next one. Pure, no I/O.

X bills per post under pay-per-use; a post containing a URL costs far more than one without
(in 2026, $0.20 against $0.015; both prices are per channel in config.yaml). Each reply of a
thread is a post of its own and is billed as one.

How dispatch uses this (before claiming an X delivery):

1. Render the post (and its thread replies) as it would be sent.
2. ``price = thread_price((post.text, *post.thread), cfg)``.
3. ``spent`` = the sum of the prices of this channel's deliveries sent since the first of the
   current month, in the channel's time zone (store the price with each sent delivery, so a
   later price change in config.yaml does not rewrite history).
4. If ``not budget_allows(spent, price, cfg)``, leave the delivery pending with its due time
   moved to 00:00 on the first of next month (channel time zone), with the note
   "monthly budget reached"; deliveries are never dropped for budget reasons.
5. ``newsbot status`` shows posts and ``spent`` this month per X channel, against the budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from twitter_text import extract_urls

from bot.channels.x_length import normalize

# Float sums of prices like 0.015 drift in the last bits; a cent's hundredth is nothing.
_EPSILON = 1e-9


class XChannel(Protocol):
    """The prices and budget of an X channel (its settings: bot/channels/x_platform.py)."""

    @property
    def price_with_url(self) -> float: ...

    @property
    def price_without_url(self) -> float: ...

    @property
    def monthly_budget(self) -> float | None: ...


def has_url(text: str) -> bool:
    """True when X would see a link in ``text`` (twitter-text's rules, bare domains too)."""
    return bool(extract_urls(normalize(text)))


def post_price(text: str, cfg: XChannel) -> float:
    """The estimated price of posting ``text`` on this channel."""
    return cfg.price_with_url if has_url(text) else cfg.price_without_url


def thread_price(texts: Iterable[str], cfg: XChannel) -> float:
    """The estimated price of a post and its replies (each billed as a post)."""
    return sum(post_price(text, cfg) for text in texts)


def budget_allows(spent_this_month: float, next_price: float, cfg: XChannel) -> bool:
    """True when no ``monthly_budget`` is set, or spending ``next_price`` stays within it."""
    if cfg.monthly_budget is None:
        return True
    return spent_this_month + next_price <= cfg.monthly_budget + _EPSILON
