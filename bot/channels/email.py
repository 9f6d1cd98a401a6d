"""Email channels send digests (bot.digest), never single posts.

The registry still asks every platform module for a PostFormat (``newsbot check`` renders a
sample for each channel), so this one is trivial: HTML, no length limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from bot.channels.base import TextMeasure

if TYPE_CHECKING:
    from bot.config import ChannelConfig, Config


@dataclass(frozen=True)
class EmailFormat:
    markup: str = "html"

    def fits(self, text: str, *, with_media: bool) -> bool:
        return True

    def measure(self, text: str, *, with_media: bool) -> TextMeasure:
        return TextMeasure(len(text), 0, "characters")


def make_format(cfg: ChannelConfig) -> EmailFormat:
    return EmailFormat()


def make_channel(name: str, cfg: ChannelConfig, config: Config) -> NoReturn:
    raise TypeError(
        f"channel {name}: email channels send digests on their cron, not single posts; "
        "use bot.digest.commands.run_digest (newsbot digest send/preview)"
    )
