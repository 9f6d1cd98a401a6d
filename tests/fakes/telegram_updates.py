"""The Bot API's side of a control chat: inline keyboards, callback queries, getUpdates,
answerCallbackQuery and editMessageText, as strict as Telegram where a bot could go wrong.

- An inline keyboard is a list of rows of buttons; each button has a non-empty ``text`` and
  exactly one action: ``callback_data`` (1-64 bytes) or an http(s) ``url``. Anything else is
  Telegram's 400 "can't parse inline keyboard button" (or BUTTON_DATA_INVALID).
- A tap (``tap``) is only possible on a button that is on the message: Telegram sends only
  the data of buttons it showed. It becomes an update with a ``callback_query``.
- getUpdates returns updates with ``update_id >= offset`` (an offset confirms, and drops,
  the ones before it), waiting up to ``timeout`` seconds for one when there are none.
- answerCallbackQuery answers a query once; an unknown or already answered id is 400
  "query is too old and response timeout expired or query ID is invalid".
- editMessageText must name a message the bot sent in that chat; the text follows the same
  HTML rules as sendMessage; "message is not modified" when nothing changes. A photo's
  message has no text: editMessageText on it is "there is no text in the message to edit",
  and its caption is changed with editMessageCaption (the caption's limit, 1024).

This file does not import newsbot: it stands for Telegram.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


def keyboard_problem(markup: Any) -> str:
    """"" when ``markup`` is a valid InlineKeyboardMarkup, else Telegram's words."""
    if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
        return "Bad Request: can't parse reply keyboard markup JSON object"
    for row in markup["inline_keyboard"]:
        if not isinstance(row, list) or not row:
            return "Bad Request: can't parse inline keyboard button: row must be a non-empty array"
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                return "Bad Request: can't parse inline keyboard button: Text buttons are " \
                       "unallowed in the inline keyboard"
            actions = [k for k in ("callback_data", "url") if k in button]
            if len(actions) != 1:
                return "Bad Request: can't parse inline keyboard button: exactly one of " \
                       "callback_data, url expected"
            if "callback_data" in button:
                data = str(button["callback_data"]).encode()
                if not 1 <= len(data) <= 64:
                    return "Bad Request: BUTTON_DATA_INVALID"
            elif not str(button["url"]).startswith(("http://", "https://", "tg://")):
                return "Bad Request: BUTTON_URL_INVALID"
    return ""


def button_data(markup: Any) -> list[str]:
    if not isinstance(markup, dict):
        return []
    return [str(b["callback_data"]) for row in markup.get("inline_keyboard", [])
            for b in row if "callback_data" in b]


@dataclass
class Tap:
    """A callback query a user made, and how the bot answered it."""

    query_id: str
    user_id: int
    data: str
    chat: str
    message_id: int
    answer: dict[str, Any] | None = None


@dataclass
class ControlState:
    """Keyboards on sent messages, pending updates, taps and edits (thread-safe)."""

    keyboards: dict[tuple[str, int], Any] = field(default_factory=dict)
    texts: dict[tuple[str, int], str] = field(default_factory=dict)
    photos: set[tuple[str, int]] = field(default_factory=set)  # their text is a caption
    updates: list[dict[str, Any]] = field(default_factory=list)
    taps: dict[str, Tap] = field(default_factory=dict)
    edits: list[dict[str, Any]] = field(default_factory=list)
    next_update: int = 1
    confirmed: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def remember(self, chat: str, message_id: int, text: str, markup: Any, *,
                 photo: bool = False) -> None:
        with self._cond:
            self.texts[(chat, message_id)] = text
            if photo:
                self.photos.add((chat, message_id))
            if markup is not None:
                self.keyboards[(chat, message_id)] = markup

    def tap(self, chat: str, message_id: int, data: str, *, user_id: int, first_name: str,
            message: dict[str, Any]) -> Tap:
        with self._cond:
            if data not in button_data(self.keyboards.get((chat, message_id))):
                raise AssertionError(f"no button with callback_data {data!r} on message "
                                     f"{message_id} in chat {chat}: Telegram could not send it")
            query_id = f"{len(self.taps) + 1}{int(time.time() * 1000) % 100000}"
            tap = Tap(query_id, user_id, data, chat, message_id)
            self.taps[query_id] = tap
            self.updates.append({"update_id": self.next_update, "callback_query": {
                "id": query_id, "chat_instance": "-4242",
                "from": {"id": user_id, "is_bot": False, "first_name": first_name},
                "message": message, "data": data}})
            self.next_update += 1
            self._cond.notify_all()
            return tap

    def get_updates(self, offset: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + max(0.0, min(timeout, 30.0))
        with self._cond:
            if offset:
                self.confirmed = max(self.confirmed, offset - 1)
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return list(self.updates)

    def answer(self, query_id: str, params: dict[str, Any]) -> str:
        with self._cond:
            tap = self.taps.get(query_id)
            if tap is None or tap.answer is not None:
                return ("Bad Request: query is too old and response timeout expired or query "
                        "ID is invalid")
            tap.answer = {k: v for k, v in params.items() if k != "callback_query_id"}
            return ""

    def edit(self, chat: str, message_id: int, text: str, markup: Any, *,
             caption: bool = False) -> str:
        with self._cond:
            key = (chat, message_id)
            if key not in self.texts:
                return "Bad Request: message to edit not found"
            if key in self.photos and not caption:
                return "Bad Request: there is no text in the message to edit"
            if caption and key not in self.photos:
                return "Bad Request: there is no caption in the message to edit"
            if self.texts[key] == text and self.keyboards.get(key) == markup:
                return "Bad Request: message is not modified"
            self.texts[key] = text
            if markup is None:
                self.keyboards.pop(key, None)
            else:
                self.keyboards[key] = markup
            self.edits.append({"chat": chat, "message_id": message_id, "text": text,
                               "reply_markup": markup, "caption": caption})
            return ""

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


async def control_method(state: ControlState, method: str, params: dict[str, Any], *,
                         chat: dict[str, Any], bot_id: int, bot_username: str
                         ) -> tuple[int, dict[str, Any]]:
    """getUpdates, answerCallbackQuery, editMessageText or editMessageCaption: (HTTP status,
    JSON body)."""
    import asyncio

    from tests.fakes.telegram_html import (
        CAPTION_LIMIT,
        TEXT_LIMIT,
        EntityError,
        parse_html,
        utf16_units,
    )

    def ok(result: Any) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True, "result": result}

    def error(description: str) -> tuple[int, dict[str, Any]]:
        return 400, {"ok": False, "error_code": 400, "description": description}

    if method == "getupdates":
        return ok(await asyncio.get_running_loop().run_in_executor(
            None, state.get_updates, int(params.get("offset") or 0),
            float(params.get("timeout") or 0)))
    if method == "answercallbackquery":
        problem = state.answer(str(params.get("callback_query_id", "")), params)
        return error(problem) if problem else ok(True)
    caption = method == "editmessagecaption"
    raw = str(params.get("caption" if caption else "text", "") or "")
    try:
        visible = (parse_html(raw) if params.get("parse_mode") else raw).strip()
    except EntityError as exc:
        return error(f"Bad Request: can't parse entities: {exc}")
    if not visible and not caption:
        return error("Bad Request: message text is empty")
    if utf16_units(visible) > (CAPTION_LIMIT if caption else TEXT_LIMIT):
        return error("Bad Request: message caption is too long" if caption
                     else "Bad Request: message is too long")
    markup = params.get("reply_markup")
    if markup is not None and keyboard_problem(markup):
        return error(keyboard_problem(markup))
    message_id = int(params.get("message_id") or 0)
    problem = state.edit(str(params.get("chat_id", "")), message_id, raw, markup,
                         caption=caption)
    if problem:
        return error(problem)
    now = int(time.time())
    return ok({"message_id": message_id, "date": now, "edit_date": now, "chat": chat,
               ("caption" if caption else "text"): visible, "from": {"id": bot_id, "is_bot": True,
                                         "first_name": "Newsbot Test", "username": bot_username}})
