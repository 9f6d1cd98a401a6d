"""X as the core sees it: its settings, length rules, price, budget and capabilities.

Neither tweepy nor twitter-text is imported here (config loading imports this module, and
twitter-text alone takes a quarter of a second to load); the sender is bot/channels/x.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr

from bot.channels.platform import Budget, Capabilities, Platform
from bot.config.base import Duration
from bot.config.channel import ChannelSettings

if TYPE_CHECKING:
    from bot.channels.x_length import XPostFormat



class XChannel(ChannelSettings):
    type: Literal["x"]
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_secret: SecretStr | None = None
    api_url: str = "https://api.x.com"
    media: bool = False
    hashtags: int = Field(default=2, ge=0)  # at most this many, dropped first when too long
    thread: bool = False
    monthly_budget: float | None = Field(default=None, ge=0)
    price_with_url: float = Field(default=0.20, ge=0)
    price_without_url: float = Field(default=0.015, ge=0)
    timeout: Duration = timedelta(seconds=20)


def make_format(cfg: XChannel) -> XPostFormat:
    """X's length rules (twitter-text v3 weighted, 280)."""
    from bot.channels.x_length import XPostFormat

    return XPostFormat(media=cfg.media, hashtags=cfg.hashtags, threads=cfg.thread)


def price(cfg: XChannel, texts: tuple[str, ...]) -> float:
    """What X bills for these posts: each part of a thread is a post, more with a URL."""
    from bot.channels.x_spend import thread_price

    return float(thread_price(texts, cfg))


def budget(cfg: XChannel) -> Budget | None:
    if cfg.monthly_budget is None:
        return None
    return Budget(monthly=cfg.monthly_budget, worst_post=cfg.price_with_url)


def destination(cfg: XChannel) -> str:
    where = f"via {cfg.api_url}"
    if cfg.monthly_budget is not None:
        where += f", budget ${cfg.monthly_budget:.2f}/month"
    return where


PLATFORM = Platform(
    type="x",
    settings=XChannel,
    default_template="x/post.txt.j2",
    credentials=("api_key", "api_secret", "access_token", "access_secret"),
    make_format=make_format,
    sender="bot.channels.x:make_channel",
    capabilities=Capabilities(photo=True, media_alt=True, threads=True),
    price=price,
    budget=budget,
    online_check="bot.channels.x_check:check_online",
    destination=destination,
)
