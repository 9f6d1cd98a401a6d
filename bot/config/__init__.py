"""config.yaml, the editors' file: its typed shape (model.py) and how it is read (load.py).

The names below are loaded on first use, not with the package: a platform module imports
``bot.config.channel`` for its settings' base while the registry is still finding platforms,
and loading ``bot.config.model`` then (which asks the registry for every platform's settings)
would find that platform module half-initialised.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config.base import Duration
    from bot.config.channel import ChannelSettings, Route
    from bot.config.desk import Approval, Desk, DeskTelegram
    from bot.config.load import load_config, parse_config, read_config_text
    from bot.config.model import (
        DIGEST_TYPE,
        ChannelConfig,
        Config,
        Corrections,
        EmailChannel,
        Fetching,
        Smtp,
        Source,
        Web,
        channel_types,
        required_credentials,
    )
    from bot.config.schedule import PriorityRule, Schedule, Window

_EXPORTS = {
    "Duration": "bot.config.base",
    "ChannelSettings": "bot.config.channel",
    "Route": "bot.config.channel",
    "Approval": "bot.config.desk",
    "Desk": "bot.config.desk",
    "DeskTelegram": "bot.config.desk",
    "load_config": "bot.config.load",
    "parse_config": "bot.config.load",
    "read_config_text": "bot.config.load",
    "ChannelConfig": "bot.config.model",
    "Config": "bot.config.model",
    "Corrections": "bot.config.model",
    "DIGEST_TYPE": "bot.config.model",
    "EmailChannel": "bot.config.model",
    "Fetching": "bot.config.model",
    "Smtp": "bot.config.model",
    "Source": "bot.config.model",
    "Web": "bot.config.model",
    "channel_types": "bot.config.model",
    "required_credentials": "bot.config.model",
    "PriorityRule": "bot.config.schedule",
    "Schedule": "bot.config.schedule",
    "Window": "bot.config.schedule",
}

__all__ = [
    "DIGEST_TYPE",
    "Approval",
    "ChannelConfig",
    "ChannelSettings",
    "Config",
    "Corrections",
    "Desk",
    "DeskTelegram",
    "Duration",
    "EmailChannel",
    "Fetching",
    "PriorityRule",
    "Route",
    "Schedule",
    "Smtp",
    "Source",
    "Web",
    "Window",
    "channel_types",
    "load_config",
    "parse_config",
    "read_config_text",
    "required_credentials",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # once: later lookups do not come here
        return value
    # A platform's settings class is its platform module's: bot/channels/<name>_platform.py.
    raise AttributeError(f"module 'bot.config' has no attribute {name!r}")
