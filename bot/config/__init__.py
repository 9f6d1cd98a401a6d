"""config.yaml, the editors' file: its typed shape (model.py) and how it is read (load.py)."""

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
    # Platform settings classes live in their platform modules now; this keeps an import
    # of one from bot.config, written before the registry, working. New
    # code imports from bot/channels/<name>_platform.py.
    from bot.channels.registry import platforms

    for platform in platforms().values():
        if getattr(platform.settings, "__name__", "") == name:
            return platform.settings
    raise AttributeError(f"module 'bot.config' has no attribute {name!r}")
