"""What an X post costs and whether the month's budget allows it (pure functions)."""

from __future__ import annotations

import pytest

from bot.channels.x_platform import XChannel
from bot.channels.x_spend import budget_allows, has_url, post_price, thread_price

CFG = XChannel(type="x", monthly_budget=1.0, price_with_url=0.20, price_without_url=0.015)


@pytest.mark.parametrize(
    ("text", "linked"),
    [
        ("Read more https://news.example.org/a/1", True),
        ("Details at news.example.org", True),  # X links bare domains too
        ("اقرأ المزيد: https://news.example.org/ar/1", True),
        ("No link here, just words.", False),
        ("Prices rose 3.5 percent", False),
        ("version1.2 of the plan", False),
    ],
)
def test_urls_are_detected_as_twitter_text_does(text: str, linked: bool) -> None:
    assert has_url(text) is linked


def test_a_post_with_a_url_costs_the_url_price() -> None:
    assert post_price("Dams https://news.example.org/a", CFG) == 0.20
    assert post_price("Dams", CFG) == 0.015


def test_each_thread_reply_is_billed_as_a_post() -> None:
    assert thread_price(["Dams https://news.example.org/a", "more", "and more"], CFG) == (
        pytest.approx(0.23)
    )


def test_budget_allows_spending_up_to_the_budget_exactly() -> None:
    assert budget_allows(0.80, 0.20, CFG)
    assert not budget_allows(0.81, 0.20, CFG)


def test_float_drift_does_not_refuse_the_last_affordable_post() -> None:
    spent = sum([0.015] * 60)  # 0.9000000000000006 or so
    assert budget_allows(spent, 0.1, CFG)


def test_no_budget_means_no_limit() -> None:
    assert budget_allows(1e9, 0.20, XChannel(type="x"))
