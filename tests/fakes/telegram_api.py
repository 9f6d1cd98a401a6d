"""A local Telegram Bot API server, as strict as the real one where newsbot could go wrong.

It runs aiohttp on 127.0.0.1 in a background thread, so async tests, sync tests and a
``newsbot`` subprocess can all talk to it. Point a channel at it with
``api_url: <server.base_url>`` (the server root; methods live at ``/bot<token>/<method>``).

What it checks, like Telegram: the token (401 for a wrong one), HTML parse mode per the Bot API
rules (400 "can't parse entities" for unknown tags, bare ``<`` ``>`` ``&``, unknown named
entities, bad nesting), lengths after parsing in UTF-16 units (4096 text, 1024 caption), photos
(multipart uploads must be images; URLs are fetched, loopback only), flood control (1 message/s
per chat, 20/min per group or channel, 30/s overall → 429 with ``parameters.retry_after``).
What tests can switch: ``fail_next`` (400/403/429/500/502 for the next N requests, optionally
for one chat only), ``hang_next`` (accept the message, never answer), ``migrate`` (a group
became a supergroup), ``reject_photos``; and ``clock`` (``time.monotonic`` unless given: a
virtual clock lets a test live through minutes of Telegram's limits in no real time).

This module is the HTTP server: its lifecycle, the test switches, the method handlers and the
``telegram_api`` fixture. Telegram's rules live beside it: HTML parse mode and UTF-16 lengths
in ``telegram_html``, chats and flood control in ``telegram_chats``, request parsing and the
answer envelope in ``telegram_wire``; the
names tests use from those are importable from here too.

This file deliberately does not import newsbot: it stands for Telegram, not for our code.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout, web

from tests.fakes.telegram_chats import (
    Chat,
    FloodLimits,
    chat_info,
    chat_json,
    flood_wait,
    new_chat,
    numeric_id,
)
from tests.fakes.telegram_html import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    EntityError,
    parse_html,
    utf16_units,
)
from tests.fakes.telegram_updates import ControlState, Tap, control_method, keyboard_problem
from tests.fakes.telegram_wire import Failure, error, failure_response, ok, read_params

__all__ = [  # what other files import from here, wherever it is defined
    "BOT_USERNAME",
    "JPEG",
    "TOKEN",
    "Accepted",
    "EntityError",
    "FakeTelegramAPI",
    "FloodLimits",
    "Tap",
    "parse_html",
    "telegram_api",
    "utf16_units",
]

TOKEN = "123456789:AAHfakeTokenForTestsOnly_abcdefghijklmnop"
BOT_USERNAME = "newsbot_test_bot"

# A 1×1 white JPEG, served at /files/photo.jpg.
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
    "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7"
    "e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbfcffd9"
)
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF")

@dataclass(frozen=True)
class Accepted:
    """A message the server accepted."""

    method: str  # "sendMessage" or "sendPhoto"
    chat: str  # the chat_id as sent ("@name" or a number)
    message_id: int
    text: str | None  # sendMessage: the raw text as sent
    caption: str | None  # sendPhoto
    parse_mode: str | None
    photo: str | None  # URL or "upload:<bytes>"
    options: dict[str, Any]  # every other parameter (JSON decoded where it was JSON)
    at: float  # the server's clock (time.monotonic() by default) when it arrived


class FakeTelegramAPI:
    """A Bot API server on 127.0.0.1. Use as a context manager or start()/stop()."""

    def __init__(self, token: str = TOKEN, *, limits: FloodLimits | None = None,
                 flood_control: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        self.limits = limits or FloodLimits()
        self.flood_control = flood_control
        self.clock = clock
        self.messages: list[Accepted] = []
        self.requests: list[tuple[str, str | None, int]] = []  # (method, chat, HTTP status)
        self.reject_photos = False
        self._failures: list[Failure] = []
        self._hangs: list[tuple[int, str | None]] = []
        self._chats: dict[str, Chat] = {}
        self.unknown_chats: set[str] = set()  # getChat answers "chat not found"
        self._overall: deque[float] = deque()
        self._next_id = 1
        self.control = ControlState()  # keyboards, taps, updates, edits (telegram_updates)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._release = threading.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What config.yaml's ``api_url`` is set to (the server root)."""
        return f"http://127.0.0.1:{self.port}"

    def image_url(self, name: str = "photo.jpg") -> str:
        """A URL on this server: photo.jpg is a JPEG, anything else is a 404."""
        return f"{self.base_url}/files/{name}"

    def start(self) -> FakeTelegramAPI:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=60 * 1024 * 1024)
            app.router.add_route("*", "/files/{name}", self._file)
            app.router.add_route("*", "/{path:.*}", self._api)
            self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.SockSite(self._runner, sock).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-telegram-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        self._release.set()
        self.control.wake()
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeTelegramAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- switches --------------------------------------------------------------------------

    def fail_next(self, status: int, count: int | None = 1, *, chat: str | int | None = None,
                  description: str | None = None, retry_after: int | None = None,
                  methods: tuple[str, ...] = ("sendmessage", "sendphoto")) -> None:
        """Answer the next ``count`` send requests (to ``chat``, if given) with ``status``."""
        with self._lock:
            self._failures.append(Failure(
                status, count, None if chat is None else str(chat), description,
                retry_after if retry_after is not None else (3 if status == 429 else None),
                tuple(m.lower() for m in methods)))

    def hang_next(self, count: int = 1, *, chat: str | int | None = None) -> None:
        """Accept the next ``count`` sends (recorded in ``messages``) and never answer."""
        with self._lock:
            self._hangs.append((count, None if chat is None else str(chat)))

    def clear(self) -> None:
        """Drop all pending failures and hangs."""
        with self._lock:
            self._failures.clear()
            self._hangs.clear()

    def migrate(self, chat: str | int, to_chat_id: int) -> None:
        """``chat`` (a group) became the supergroup ``to_chat_id``."""
        with self._lock:
            self._chat(str(chat)).migrated_to = to_chat_id

    def add_chat(self, chat: str | int, *, type: str = "channel",
                 username: str | None = None, title: str = "Test chat") -> None:
        with self._lock:
            self._chats[str(chat)] = Chat(id=numeric_id(str(chat)), type=type,
                                          username=username, title=title)

    def set_bot_status(self, chat: str | int, status: str) -> None:
        """The bot's membership in ``chat`` (``member``, ``left``…; default administrator)."""
        with self._lock:
            self._chat(str(chat)).bot_status = status

    def tap(self, message: Accepted, data: str, *, user_id: int,
            first_name: str = "Editor") -> Tap:
        """``user_id`` taps the button whose callback_data is ``data`` on ``message``: an
        update for getUpdates. Only a button that is on the message can be tapped."""
        with self._lock:
            chat = self._chat(message.chat)
            text = self.control.texts.get((message.chat, message.message_id), "")
        body = {"message_id": message.message_id, "date": int(time.time()),
                "chat": chat_json(chat), "text": text,
                "from": {"id": int(self.token.split(":")[0]), "is_bot": True,
                         "first_name": "Newsbot Test", "username": BOT_USERNAME}}
        return self.control.tap(message.chat, message.message_id, data, user_id=user_id,
                                first_name=first_name, message=body)

    def count(self, status: int) -> int:
        """How many requests were answered with ``status``."""
        with self._lock:
            return sum(1 for _, _, s in self.requests if s == status)

    # -- handlers --------------------------------------------------------------------------

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["name"] == "photo.jpg":
            return web.Response(body=JPEG, content_type="image/jpeg")
        if request.match_info["name"].endswith(".html"):
            return web.Response(text="<html>not an image</html>", content_type="text/html")
        raise web.HTTPNotFound()

    async def _api(self, request: web.Request) -> web.StreamResponse:
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", request.path)
        if not match:
            return error(404, "Not Found")
        token, method = match.group(1), match.group(2).lower()
        if token != self.token:
            return error(401, "Unauthorized")
        params, upload = await read_params(request)
        if method == "getme":
            return ok({"id": int(self.token.split(":")[0]), "is_bot": True,
                        "first_name": "Newsbot Test", "username": BOT_USERNAME,
                        "can_join_groups": True, "can_read_all_group_messages": False,
                        "supports_inline_queries": False})
        if method in ("getchat", "getchatmember"):
            return self._chat_info(method, str(params.get("chat_id", "")), params)
        if method in ("getupdates", "answercallbackquery", "editmessagetext",
                      "editmessagecaption"):
            response = await self._control(method, params)
            with self._lock:
                self.requests.append((method, str(params.get("chat_id", "")), response.status))
            return response
        if method not in ("sendmessage", "sendphoto"):
            return error(404, "Not Found: method not found")
        chat_key = str(params.get("chat_id", ""))
        response = await self._send(method, chat_key, params, upload)
        with self._lock:
            self.requests.append((method, chat_key, response.status))
        return response

    async def _control(self, method: str, params: dict[str, Any]) -> web.Response:
        """getUpdates (long poll), answerCallbackQuery, editMessageText: telegram_updates."""
        chat_key = str(params.get("chat_id", ""))
        with self._lock:
            chat = chat_json(self._chat(chat_key)) if chat_key else {}
        status, body = await control_method(self.control, method, params, chat=chat,
                                            bot_id=int(self.token.split(":")[0]),
                                            bot_username=BOT_USERNAME)
        return web.json_response(body, status=status)

    def _chat_info(self, method: str, chat_key: str, params: dict[str, Any]) -> web.Response:
        """getChat and getChatMember (the bot's own membership only), for ``check --online``."""
        with self._lock:
            if chat_key in self.unknown_chats:
                return error(400, "Bad Request: chat not found")
            chat = self._chat(chat_key)
        status, result = chat_info(chat, method, params, bot_id=int(self.token.split(":")[0]),
                                   bot_username=BOT_USERNAME)
        return ok(result) if status == 200 else error(status, str(result))

    async def _send(self, method: str, chat_key: str, params: dict[str, Any],
                    upload: bytes | None) -> web.Response:
        if not chat_key:
            return error(400, "Bad Request: chat_id is empty")
        with self._lock:
            failure = self._take_failure(method, chat_key)
            chat = self._chat(chat_key)
        if failure:
            return failure_response(failure)
        if chat.migrated_to is not None:
            return error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                          {"migrate_to_chat_id": chat.migrated_to})
        parse_mode = params.get("parse_mode")
        field_name = "text" if method == "sendmessage" else "caption"
        raw = str(params.get(field_name, "") or "")
        if parse_mode is not None and str(parse_mode).lower() != "html":
            return error(400, "Bad Request: unsupported parse_mode")
        try:
            visible = parse_html(raw) if parse_mode else raw
        except EntityError as exc:
            return error(400, f"Bad Request: can't parse entities: {exc}")
        visible = visible.strip()
        if method == "sendmessage":
            if not visible:
                return error(400, "Bad Request: message text is empty")
            if utf16_units(visible) > TEXT_LIMIT:
                return error(400, "Bad Request: message is too long")
        elif utf16_units(visible) > CAPTION_LIMIT:
            return error(400, "Bad Request: message caption is too long")
        markup = params.get("reply_markup")
        if markup is not None and keyboard_problem(markup):
            return error(400, keyboard_problem(markup))
        photo: str | None = None
        if method == "sendphoto":
            problem, photo = await self._check_photo(params.get("photo"), upload)
            if problem:
                return error(400, problem)
        with self._lock:
            retry_after = self._flood(chat_key, chat)
            if retry_after:
                return error(429, f"Too Many Requests: retry after {retry_after}",
                              {"retry_after": retry_after})
            message_id = self._next_id
            self._next_id += 1
            options = {k: v for k, v in params.items()
                       if k not in ("chat_id", "text", "caption", "parse_mode", "photo")}
            self.messages.append(Accepted(
                method="sendMessage" if method == "sendmessage" else "sendPhoto",
                chat=chat_key, message_id=message_id,
                text=raw if method == "sendmessage" else None,
                caption=raw if method == "sendphoto" else None,
                parse_mode=None if parse_mode is None else str(parse_mode),
                photo=photo, options=options, at=self.clock()))
            hang = self._take_hang(chat_key)
        self.control.remember(chat_key, message_id, raw, markup, photo=method == "sendphoto")
        if hang:
            await asyncio.get_running_loop().run_in_executor(None, self._release.wait, 30)
        message: dict[str, Any] = {
            "message_id": message_id, "date": int(time.time()),
            "chat": chat_json(chat),
        }
        if chat.type == "channel":
            message["sender_chat"] = chat_json(chat)
        else:
            message["from"] = {"id": int(self.token.split(":")[0]), "is_bot": True,
                               "first_name": "Newsbot Test", "username": BOT_USERNAME}
        if method == "sendmessage":
            message["text"] = visible
        else:
            message["caption"] = visible
            message["photo"] = [{"file_id": f"AgAC{message_id}",
                                 "file_unique_id": f"AQ{message_id}",
                                 "width": 1, "height": 1, "file_size": len(JPEG)}]
        return ok(message)

    async def _check_photo(self, photo: Any, upload: bytes | None) -> tuple[str, str | None]:
        if upload is not None:
            if self.reject_photos or not upload.startswith(_IMAGE_MAGIC):
                return "Bad Request: IMAGE_PROCESS_FAILED", None
            return "", f"upload:{len(upload)}"
        if not photo:
            return "Bad Request: there is no photo in the request", None
        url = str(photo)
        if not url.startswith(("http://", "https://")):
            return "Bad Request: wrong file identifier/HTTP URL specified", None
        if not url.startswith(("http://127.0.0.1", "http://localhost")):
            # No internet in tests: any other host is as unreachable as a dead server.
            return "Bad Request: failed to get HTTP URL content", None
        try:
            async with ClientSession(timeout=ClientTimeout(total=5)) as session, \
                    session.get(url) as response:
                if response.status != 200:
                    return "Bad Request: failed to get HTTP URL content", None
                body = await response.read()
        except Exception:
            return "Bad Request: failed to get HTTP URL content", None
        if not body.startswith(_IMAGE_MAGIC):
            return "Bad Request: wrong type of the web page content", None
        if self.reject_photos:
            return "Bad Request: IMAGE_PROCESS_FAILED", None
        return "", url

    # -- state (called with the lock held) ---------------------------------------------------

    def _chat(self, key: str) -> Chat:
        chat = self._chats.get(key)
        if chat is None:
            chat = new_chat(key)
            self._chats[key] = chat
        return chat

    def _take_failure(self, method: str, chat: str) -> Failure | None:
        for failure in self._failures:
            if method in failure.methods and failure.chat in (None, chat):
                if failure.count is not None:
                    failure.count -= 1
                    if failure.count <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    def _take_hang(self, chat: str) -> bool:
        for index, (count, only) in enumerate(self._hangs):
            if only in (None, chat):
                if count <= 1:
                    del self._hangs[index]
                else:
                    self._hangs[index] = (count - 1, only)
                return True
        return False

    def _flood(self, key: str, chat: Chat) -> int:
        """0 when a message may go to ``chat`` now (and count it), else seconds to wait."""
        now = self.clock()
        if self.flood_control:
            wait = flood_wait(chat, self._overall, now, self.limits)
            if wait:
                return wait
        chat.times.append(now)
        self._overall.append(now)
        return 0


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    """A fresh fake Bot API server for one test (token ``TOKEN``)."""
    with FakeTelegramAPI() as server:
        yield server
