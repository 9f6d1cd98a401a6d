"""config.yaml, the editors' file: its typed shape (model.py) and how it is read (load.py)."""

from bot.config.base import Duration
from bot.config.desk import Approval, Desk, DeskTelegram
from bot.config.load import load_config, parse_config, read_config_text
from bot.config.model import (
    CHANNEL_TYPES,
    REQUIRED_CREDENTIALS,
    ChannelConfig,
    Config,
    EmailChannel,
    Fetching,
    Route,
    Smtp,
    Source,
    TelegramChannel,
    Web,
    XChannel,
)
from bot.config.schedule import PriorityRule, Schedule, Window

__all__ = [
    "CHANNEL_TYPES",
    "REQUIRED_CREDENTIALS",
    "Approval",
    "ChannelConfig",
    "Config",
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
    "TelegramChannel",
    "Web",
    "Window",
    "XChannel",
    "load_config",
    "parse_config",
    "read_config_text",
]
