"""Telegram's flood limits, apart from the pacer that enforces them in a sender.

Config loading reads them (bot/channels/telegram_platform.py builds the store-side pace from
them) and must not load the pacer's asyncio for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Telegram's documented limits, plus a safety margin for network jitter."""

    per_chat_interval: float = 1.0  # seconds between two messages to one chat
    per_chat_window: float = 60.0  # the window of ``per_chat_per_window``
    per_chat_per_window: int = 20  # messages per window to one group or channel
    overall_per_second: int = 30  # messages per second for the whole bot
    # Added to a per-chat gap counted from a send that has no answer yet: the request may
    # reach Telegram a little after its slot. A send with an answer needs none.
    margin: float = 0.05


#: Telegram's limits as documented; the store-side pace in ``bot.dispatch`` is built from it.
TELEGRAM_LIMITS = Limits()


def is_private_chat(chat: str | int) -> bool:
    """True for a one-to-one chat with a user, which Telegram holds to 1 message/s only.

    A user's chat id is positive. Groups have negative ids, supergroups and channels -100…,
    and an ``@username`` names a public channel or supergroup (the Bot API does not send to
    users by username): those are held to 20 per minute as well.
    """
    return str(chat).strip().isdigit()
