"""Telegram's chats and its flood control, as the fake Bot API models them.

What a ``chat_id`` names (``@name`` and ``-100…`` are channels, other negative ids groups,
positive ids private chats), how a chat appears in a message's JSON, and the 429 rule:
``FloodLimits`` (1 message/s per chat, 20/min per group or channel, 30/s overall) and
``flood_wait``, the whole seconds a new message must wait under them.

No HTTP and no locking here: the server (``telegram_api``) owns the chats, the clock and the
lock, and calls these with the lock held. Like the server, this does not import newsbot.
"""

from __future__ import annotations

import math
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FloodLimits:
    per_chat_interval: float = 1.0
    per_chat_window: float = 60.0
    per_chat_per_window: int = 20
    overall_per_second: int = 30


@dataclass
class Chat:
    id: int
    type: str
    username: str | None = None
    title: str = "Test chat"
    migrated_to: int | None = None
    bot_status: str = "administrator"  # the bot's membership, as getChatMember answers
    times: deque[float] = field(default_factory=lambda: deque(maxlen=100))


def new_chat(key: str) -> Chat:
    """The chat a ``chat_id`` names when no test has set one up with ``add_chat``."""
    if key.startswith("@"):
        return Chat(id=numeric_id(key), type="channel", username=key[1:], title=key[1:])
    if key.startswith("-100"):
        return Chat(id=int(key), type="channel")
    if key.startswith("-"):
        return Chat(id=int(key), type="group")
    return Chat(id=int(key) if key.lstrip("-").isdigit() else 1, type="private")


def numeric_id(key: str) -> int:
    if key.lstrip("-").isdigit():
        return int(key)
    return -1000000000000 - zlib.crc32(key.encode()) % 1000000000


def chat_json(chat: Chat) -> dict[str, Any]:
    data: dict[str, Any] = {"id": chat.id, "type": chat.type, "title": chat.title}
    if chat.type == "private":
        data = {"id": chat.id, "type": "private", "first_name": "Reader"}
    if chat.username:
        data["username"] = chat.username
    return data


def flood_wait(chat: Chat, overall: deque[float], now: float, limits: FloodLimits) -> int:
    """0 when a message may go to ``chat`` at ``now``, else whole seconds to wait (at least 1).

    ``overall`` holds when recent messages to any chat were accepted; entries a second old or
    more are dropped from it. Recording an accepted message is the caller's job.
    """
    waits: list[float] = []
    if chat.times and now - chat.times[-1] < limits.per_chat_interval:
        waits.append(chat.times[-1] + limits.per_chat_interval - now)
    if chat.type != "private":
        recent = [t for t in chat.times if now - t < limits.per_chat_window]
        if len(recent) >= limits.per_chat_per_window:
            waits.append(recent[-limits.per_chat_per_window] + limits.per_chat_window - now)
    while overall and now - overall[0] >= 1.0:
        overall.popleft()
    if len(overall) >= limits.overall_per_second:
        waits.append(overall[0] + 1.0 - now)
    if waits:
        return max(1, math.ceil(max(waits)))
    return 0


def chat_info(chat: Chat, method: str, params: dict[str, Any], *, bot_id: int,
              bot_username: str) -> tuple[int, Any]:
    """getChat, or getChatMember for the bot itself: (200, result) or (400, description)."""
    if method == "getchat":
        return 200, {**chat_json(chat), "accent_color_id": 0, "max_reaction_count": 11,
                     "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                             "unique_gifts": False,
                                             "premium_subscription": False,
                                             "gifts_from_channels": False}}
    if str(params.get("user_id")) != str(bot_id):
        return 400, "Bad Request: user not found"
    member: dict[str, Any] = {
        "status": chat.bot_status,
        "user": {"id": bot_id, "is_bot": True, "first_name": "Newsbot Test",
                 "username": bot_username}}
    if chat.bot_status == "administrator":
        member.update({name: True for name in (
            "can_be_edited", "can_manage_chat", "can_delete_messages",
            "can_manage_video_chats", "can_restrict_members", "can_promote_members",
            "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
            "can_delete_stories", "can_post_messages", "can_edit_messages")})
        member["is_anonymous"] = False
    return 200, member
