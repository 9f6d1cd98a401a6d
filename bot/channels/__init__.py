"""The posting platforms: each is one ``<name>_platform.py`` object plus its sender module.

The core asks bot/channels/registry.py for a channel's ``Platform`` and never imports a
platform SDK; only the sender module a platform's ``make_channel`` loads does, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.channels.base import Channel, PostFormat
    from bot.config import Config


def post_format(cfg: Any) -> PostFormat:
    """The rules a post to this channel must meet (render reads them; no I/O)."""
    from bot.channels.registry import platform_for

    return platform_for(cfg).make_format(cfg)


def make_channel(name: str, cfg: Any, config: Config) -> Channel:
    """The real sender for a channel (credentials must be present)."""
    from bot.channels.platform import load
    from bot.channels.registry import platform_for

    channel: Channel = load(platform_for(cfg).sender)(name, cfg, config)
    return channel
