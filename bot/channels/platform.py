"""The one object a platform hands the core.

Dispatch, render, operations, the CLI and config loading ask this object what a platform can
do; none of them checks which platform it is. A platform lives in ``bot/channels/``: a light
``<name>_platform.py`` defining ``PLATFORM`` (its settings model, formats, pace, price; no SDK
import, because config loading imports it) and a sender module, named here by a
``"module:function"`` reference and imported on first send. The sender imports the platform
module for its settings, never the other way round, so imports run one way. See
bot/channels/registry.py for how platforms are found.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.channels.base import PostFormat
    from bot.config.channel import ChannelSettings


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do with a post, beyond its text."""

    photo: bool = False  # a lead image can be sent with the post
    media_alt: bool = False  # the image is uploaded with alt text
    threads: bool = False  # a long summary can continue in replies
    edit: bool = False  # a sent post can be corrected in place
    idempotency_key: bool = False  # a retried send cannot post twice


@dataclass(frozen=True)
class Pace:
    """A platform's own flood limit for one destination, decided in the store so it holds
    across workers (e.g. one post a second per chat, 20 a minute to a group). Unlike the
    editors' schedule, nothing skips it."""

    min_interval: timedelta = timedelta(0)
    per_minute: int | None = None


@dataclass(frozen=True)
class Budget:
    """A monthly spending limit, and the most one post can cost (checked before a claim)."""

    monthly: float
    worst_post: float


def _no_pace(cfg: Any) -> Pace | None:
    return None


def _no_budget(cfg: Any) -> Budget | None:
    return None


def _no_details(cfg: Any) -> tuple[str, ...]:
    return ()


def _nowhere(cfg: Any) -> str:
    return ""


@dataclass(frozen=True)
class Platform:
    """Everything the core needs to know about one platform.

    ``sender`` names the function that builds the Channel, ``(name, cfg, config) ->
    Channel``; ``online_check`` the one that asks the platform, without posting, whether
    credentials and target work, ``async (name, cfg, config) -> OnlineCheck`` (``newsbot check
    --online`` and start-up; None: nothing to ask). ``price`` is None for a platform that
    does not bill per post; ``destination`` says where a channel posts, for ``newsbot
    check`` (never a secret).
    """

    type: str
    settings: builtins.type[ChannelSettings]
    default_template: str
    credentials: tuple[str, ...]
    make_format: Callable[[Any], PostFormat]
    sender: str
    capabilities: Capabilities = Capabilities()
    pace: Callable[[Any], Pace | None] = _no_pace
    price: Callable[[Any, tuple[str, ...]], float] | None = None
    budget: Callable[[Any], Budget | None] = _no_budget
    destination: Callable[[Any], str] = _nowhere
    details: Callable[[Any], tuple[str, ...]] = _no_details
    online_check: str | None = None


def load(reference: str) -> Any:
    """The function a ``"module:function"`` reference names (importing its module now)."""
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(module), function)


def month_start(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight on the 1st of ``now``'s month in ``zone``, as UTC."""
    local = now.astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def next_month_start(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight on the 1st of the month after ``now``'s, in ``zone``, as UTC."""
    local = now.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
