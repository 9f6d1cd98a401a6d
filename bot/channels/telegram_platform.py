"""Telegram as the core sees it: its settings, length rules, pace and capabilities.

No python-telegram-bot import here: config loading imports this module. The sender is
bot/channels/telegram.py, loaded on the first send; the HTML parser that measures a post
(telegram_html) is loaded on the first measurement, and the limits come without the pacer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from bot.channels.platform import Capabilities, Pace, Platform
from bot.channels.telegram_limits import TELEGRAM_LIMITS, is_private_chat
from bot.config.base import Duration
from bot.config.channel import ChannelSettings

if TYPE_CHECKING:
    from bot.channels.base import TextMeasure


class TelegramChannel(ChannelSettings):
    type: Literal["telegram"]
    token: SecretStr | None = None
    chat: str | int
    api_url: str = "https://api.telegram.org"
    message_thread_id: int | None = None
    silent: bool = False
    link_preview: Literal["on", "off", "above"] = "on"
    photo: Literal["auto", "never"] = "auto"
    timeout: Duration = timedelta(seconds=20)


@dataclass(frozen=True)
class TelegramFormat:
    """Telegram's length rules: 4096 (text) or 1024 (caption) UTF-16 units after parsing."""

    media: bool = True
    hashtags: int = 3
    markup: str = "html"
    threads: bool = False

    def fits(self, text: str, *, with_media: bool) -> bool:
        """True when ``text`` is valid Telegram HTML within the text or caption limit."""
        from bot.channels import telegram_html

        return telegram_html.fits(text, caption=with_media)

    def measure(self, text: str, *, with_media: bool) -> TextMeasure:
        """Visible length after Telegram's parsing, against the text or caption limit."""
        from bot.channels import telegram_html

        return telegram_html.measure(text, caption=with_media)

    def thread_parts(self, summary_rest: str, *, reserve: str = "") -> tuple[str, ...]:
        return ()


def make_format(cfg: TelegramChannel) -> TelegramFormat:
    """The post format for a Telegram channel: a caption's limits when a photo goes too."""
    return TelegramFormat(media=cfg.photo == "auto")


#: Telegram's per-chat limits (~1 message/s per chat, 20/min to a group or channel but not to
#: a private chat), decided in the store so they hold across workers; the sender's in-process
#: pacer defers to it and adds only what the store cannot see (30/s per bot, 429s).
GROUP_PACE = Pace(min_interval=timedelta(seconds=TELEGRAM_LIMITS.per_chat_interval),
                  per_minute=TELEGRAM_LIMITS.per_chat_per_window)
PRIVATE_PACE = Pace(min_interval=timedelta(seconds=TELEGRAM_LIMITS.per_chat_interval))


def pace(cfg: TelegramChannel) -> Pace:
    return PRIVATE_PACE if is_private_chat(cfg.chat) else GROUP_PACE


PLATFORM = Platform(
    type="telegram",
    settings=TelegramChannel,
    default_template="telegram/post.html.j2",
    credentials=("token",),
    make_format=make_format,
    sender="bot.channels.telegram:make_channel",
    capabilities=Capabilities(photo=True, edit=True),
    pace=pace,
    online_check="bot.channels.telegram_check:check_online",
    destination=lambda cfg: f"chat {cfg.chat} via {cfg.api_url}",
)
