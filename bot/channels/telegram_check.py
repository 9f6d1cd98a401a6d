"""Telegram's side of ``check --online``: getMe (the token), getChat (the chat exists and the
bot sees it) and getChatMember (the bot is an admin that may post). Nothing is posted."""

from __future__ import annotations

import contextlib

from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, TelegramError
from telegram.request import HTTPXRequest

from bot.channels.online import OnlineCheck, ok, unreachable, wrong
from bot.channels.telegram import _chat_id, api_urls
from bot.channels.telegram_platform import TelegramChannel
from bot.config import Config
from bot.redact import install_redaction, redact

_ADMIN = ("administrator", "creator")


async def check_online(name: str, cfg: TelegramChannel, config: Config) -> OnlineCheck:
    token = cfg.token.get_secret_value() if cfg.token else ""
    install_redaction(token)
    seconds = min(cfg.timeout.total_seconds(), 15.0)
    base_url, base_file_url = api_urls(cfg.api_url)
    bot = Bot(token, base_url=base_url, base_file_url=base_file_url,
              request=HTTPXRequest(read_timeout=seconds, connect_timeout=seconds))
    chat = _chat_id(cfg.chat)
    try:
        try:
            await bot.initialize()  # getMe
        except (InvalidToken, Forbidden) as exc:
            return wrong(name, redact(f"Telegram refused the token ({exc.message}); set the "
                                      "bot's token from @BotFather in the variable token: "
                                      "names"))
        me = bot.bot
        try:
            found = await bot.get_chat(chat)
            if found.type == "private":  # a person's chat: no admins, the bot may write
                return ok(name, f"ok: @{me.username} may write to the chat")
            member = await bot.get_chat_member(chat, me.id)
        except (BadRequest, Forbidden) as exc:
            return wrong(name, redact(f"chat {cfg.chat}: {exc.message}; check chat: in "
                                      f"config.yaml and add @{me.username} to it as an admin"))
        status = str(member.status)  # PTB's enum prints as its value
        if status not in _ADMIN:
            return wrong(name, f"@{me.username} is {status!r} in {cfg.chat}, not an "
                         "admin: make it an admin that may post messages")
        if found.type == "channel" and getattr(member, "can_post_messages", True) is False:
            return wrong(name, f"@{me.username} is an admin of {cfg.chat} but may not post "
                         "messages: give it that right")
        return ok(name, f"ok: @{me.username} is an admin of {cfg.chat}")
    except TelegramError as exc:
        return unreachable(name, redact(f"cannot reach Telegram at {cfg.api_url} "
                                        f"({exc.message}); check the network and api_url"))
    finally:
        with contextlib.suppress(TelegramError, RuntimeError):
            await bot.shutdown()
