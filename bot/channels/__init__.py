"""Channel registry: maps a channel's ``type`` in config.yaml to the module that serves it.

Platform modules are imported lazily, so the core never imports telegram or tweepy, and a
bot with only email channels never loads them. Each platform module exposes:

- ``make_format(cfg) -> PostFormat``: the platform's length rules (used by rendering, no I/O);
- ``make_channel(name, cfg, config) -> Channel``: the sender.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.channels.base import Channel, PostFormat
    from bot.config import ChannelConfig, Config

_MODULES = {
    "telegram": "bot.channels.telegram",
    "x": "bot.channels.x",
    "email": "bot.channels.email",
}


def _module(channel_type: str) -> Any:
    return importlib.import_module(_MODULES[channel_type])


def post_format(cfg: ChannelConfig) -> PostFormat:
    """The length rules for posts to a channel of this type."""
    fmt: PostFormat = _module(cfg.type).make_format(cfg)
    return fmt


def make_channel(name: str, cfg: ChannelConfig, config: Config) -> Channel:
    """The real sender for a channel (credentials must be present)."""
    channel: Channel = _module(cfg.type).make_channel(name, cfg, config)
    return channel
