"""Telegram channel: posts in Telegram's HTML subset through python-telegram-bot's ``Bot``.

``api_url`` in config.yaml is the server's root (``https://api.telegram.org``); methods are
called at ``{api_url}/bot{token}/{method}`` and files at ``{api_url}/file/bot{token}/…``, as
the official server and a local Bot API server both serve them. A URL containing ``{token}``
is passed through unchanged for servers with another layout.

A post's image URL is feed content, and python-telegram-bot would open a local path or a
``file:`` URL given as ``photo``; so only an absolute http(s) URL that passes the outbound-URL
policy (``bot.urlpolicy.check_url``) is handed on, and any other goes out as text with a note.

Every failure is translated here into the errors dispatch acts on, and no message carries the
token (see ``bot.redact``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from datetime import timedelta
from typing import Any

import httpx
from telegram import Bot, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.channels import telegram_html
from bot.channels.telegram_pacing import Pacer, PacingDeferred, shared_pacer
from bot.channels.telegram_platform import TelegramChannel, make_format  # noqa: F401
from bot.config import Config
from bot.errors import (
    AuthError,
    ChannelError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UnknownOutcomeError,
    UrlRefused,
)
from bot.models import Receipt, RenderedPost
from bot.redact import install_redaction, redact
from bot.urlpolicy import UrlPolicy, check_url

log = logging.getLogger(__name__)

# httpx exceptions that mean the request never left this machine.
_NOT_SENT = (httpx.PoolTimeout, httpx.ConnectTimeout, httpx.ConnectError)


def make_channel(name: str, cfg: TelegramChannel, config: Config) -> TelegramSender:
    """The sender for channel ``name``; the token must be set."""
    return TelegramSender(name, cfg, url_policy=UrlPolicy.allowing(config.fetch.allow_private))


def api_urls(api_url: str) -> tuple[str, str]:
    """PTB's ``base_url`` and ``base_file_url`` for a configured ``api_url``."""
    root = api_url.rstrip("/")
    if "{token}" in root:
        return root, root.replace("/bot{token}", "/file/bot{token}")
    return f"{root}/bot", f"{root}/file/bot"


class TelegramSender:
    """Sends rendered posts to one chat. Safe to share between tasks."""

    def __init__(
        self,
        name: str,
        cfg: TelegramChannel,
        *,
        pacer: Pacer | None = None,
        max_wait: float = 30.0,
        pool_size: int = 8,
        pool_timeout: float = 10.0,
        url_policy: UrlPolicy | None = None,
    ) -> None:
        token = cfg.token.get_secret_value() if cfg.token else ""
        if not token:
            raise AuthError(name, "no bot token configured (set the variable named in token:)")
        install_redaction(token)  # before Bot() logs its URL, which contains the token
        self.name = name
        self._cfg = cfg
        self._chat: str | int = _chat_id(cfg.chat)
        self._pacer = pacer or shared_pacer(token, cfg.api_url)
        self._max_wait = max_wait
        self._url_policy = url_policy or UrlPolicy()
        seconds = cfg.timeout.total_seconds()
        request = HTTPXRequest(
            connection_pool_size=pool_size,
            read_timeout=seconds,
            write_timeout=seconds,
            connect_timeout=min(seconds, 10.0),
            pool_timeout=pool_timeout,
            media_write_timeout=seconds,
        )
        base_url, base_file_url = api_urls(cfg.api_url)
        self._bot = Bot(token, base_url=base_url, base_file_url=base_file_url, request=request)
        self._ready = False
        self._closed = False

    def __repr__(self) -> str:
        return f"TelegramSender(name={self.name!r}, chat={self._chat!r})"

    @property
    def chat(self) -> str | int:
        """The chat posts go to (updated after a group migrated to a supergroup)."""
        return self._chat

    async def send(self, post: RenderedPost) -> Receipt:
        """Send ``post`` as a photo with caption or as a text message; see module docs."""
        await self._ensure_ready()
        try:
            return await self._send_to(self._chat, post)
        except ChatMigrated as exc:
            new_chat = int(exc.new_chat_id)
            log.warning("%s: chat %s migrated to %s; sending there", self.name, self._chat,
                        new_chat)
            self._chat = new_chat
            try:
                receipt = await self._send_to(new_chat, post)
            except ChatMigrated:
                raise PermanentError(self.name, "chat migrated twice in a row") from None
            extra = {**receipt.extra, "migrated_to_chat_id": str(new_chat)}
            return Receipt(receipt.platform_id, receipt.url, receipt.note, extra)

    async def edit(self, platform_id: str, post: RenderedPost) -> Receipt:
        """Correct a sent message in place: its text, or its caption when it went as a photo.

        Setting the same text twice changes nothing, so unlike a post an edit whose outcome
        is unknown (a timeout after sending) is safely retried.
        """
        await self._ensure_ready()
        try:
            message_id = int(platform_id)
        except ValueError:
            raise PermanentError(self.name, f"cannot edit {platform_id!r}: not the id of a "
                                 "Telegram message") from None
        try:
            try:
                message = await self._call(self._chat, "editMessageText", post,
                                           message_id=message_id)
            except BadRequest as exc:
                if "no text in the message" not in exc.message.lower():
                    raise
                message = await self._call(self._chat, "editMessageCaption", post,
                                           message_id=message_id)
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return Receipt(platform_id, note="already up to date: nothing to correct")
            raise PermanentError(self.name, _words("edit refused", exc)) from None
        except UnknownOutcomeError as exc:
            raise RetryableError(self.name, f"{exc}; an edit is safe to repeat") from None
        return self._receipt(message, "corrected in place")

    async def close(self) -> None:
        """Close the HTTP connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._ready:
            with contextlib.suppress(TelegramError, RuntimeError):
                await self._bot.shutdown()

    # -- internals ------------------------------------------------------------------------

    async def _ensure_ready(self) -> None:
        """Initialize the bot (getMe) once; nothing is posted here, so timeouts retry."""
        if self._closed:  # before anything is asked: its HTTP client is gone
            raise RetryableError(self.name, "not sent: the channel was closed (a reload or "
                                 "a stop); the post goes out with the next one")
        if self._ready:
            return
        try:
            await self._bot.initialize()
        except (InvalidToken, Forbidden) as exc:
            raise AuthError(self.name, _words("token refused", exc)) from None
        except BadRequest as exc:
            raise PermanentError(self.name, _words("getMe refused", exc)) from None
        except RetryAfter as exc:
            raise RateLimitedError(self.name, _words("getMe rate limited", exc),
                                   retry_after=_retry_after(exc)) from None
        except TelegramError as exc:
            raise RetryableError(self.name, _words("cannot reach Telegram", exc)) from None
        self._ready = True

    async def _send_to(self, chat: str | int, post: RenderedPost) -> Receipt:
        use_photo = bool(post.image_url) and self._cfg.photo == "auto"
        note = ""
        if use_photo and not telegram_html.fits(post.text, caption=True):
            use_photo, note = False, "sent as text: post too long for a photo caption"
        if use_photo:
            try:
                await check_url(post.image_url or "", self._url_policy,
                                timeout=min(self._cfg.timeout.total_seconds(), 10.0))
            except UrlRefused as exc:
                use_photo, note = False, f"sent as text: image not used ({exc.problem})"
                log.warning("%s: %s", self.name, note)
        if use_photo:
            try:
                message = await self._call(chat, "sendPhoto", post)
                return self._receipt(message)
            except BadRequest as exc:
                # The image could not be fetched, or Telegram would not take it: the post
                # still goes out, as text whose link preview shows the article's own image.
                note = f"sent as text: photo rejected ({redact(exc.message)})"
                log.info("%s: %s", self.name, note)
                message = await self._call(chat, "sendMessage", post, preview_fallback=True)
                return self._receipt(message, note)
        message = await self._call(chat, "sendMessage", post)
        return self._receipt(message, note)

    async def _call(self, chat: str | int, method: str, post: RenderedPost, *,
                    preview_fallback: bool = False, message_id: int = 0) -> Message:
        """One paced API call, with every failure translated to a channel error.

        ``BadRequest`` (from sendPhoto and the edits only) and ``ChatMigrated`` pass through
        for the caller.
        """
        key = str(chat)
        try:
            slot = await self._pacer.wait(key, max_wait=self._max_wait)
        except PacingDeferred as exc:
            cls = RateLimitedError if exc.rate_limited else RetryableError
            raise cls(self.name, f"paced: next slot for chat {chat} in {exc.delay:.0f}s",
                      retry_after=exc.delay) from None
        try:
            message = await self._request(chat, method, post, preview_fallback, message_id)
        except (ChatMigrated, BadRequest, RetryableError, PermanentError):
            # Telegram refused it, or the request never left: nothing was posted, so the
            # chat's limits do not count it (a photo refused goes out as text at once).
            self._pacer.refused(slot)
            raise
        except BaseException:
            # It may have been posted (a timeout after sending, a cancelled send): count it.
            self._pacer.sent(slot)
            raise
        self._pacer.sent(slot)
        return message

    async def _request(self, chat: str | int, method: str, post: RenderedPost,
                       preview_fallback: bool, message_id: int = 0) -> Message:
        """The API call itself; see ``_call``."""
        common: dict[str, Any] = {
            "chat_id": chat,
            "parse_mode": ParseMode.HTML,
            "disable_notification": self._cfg.silent,
            "message_thread_id": self._cfg.message_thread_id,
        }
        try:
            if method == "sendPhoto":
                return await self._bot.send_photo(photo=post.image_url or "", caption=post.text,
                                                  **common)
            if method in ("editMessageText", "editMessageCaption"):
                return await self._edit_request(chat, method, post, message_id)
            return await self._bot.send_message(
                text=post.text, link_preview_options=self._preview(post, preview_fallback),
                **common)
        except ChatMigrated:
            raise
        except RetryAfter as exc:
            seconds = _retry_after(exc)
            self._pacer.block(str(chat), seconds)
            raise RateLimitedError(self.name, _words("flood control", exc),
                                   retry_after=seconds) from None
        except BadRequest as exc:
            if method in ("sendPhoto", "editMessageText", "editMessageCaption"):
                raise
            raise PermanentError(self.name, _words(f"{method} refused", exc)) from None
        except (Forbidden, InvalidToken) as exc:
            raise AuthError(self.name, _words(f"{method} forbidden", exc)) from None
        except TimedOut as exc:
            raise _timeout_error(self.name, method, exc) from None
        except NetworkError as exc:
            raise _network_error(self.name, method, exc) from None
        except TelegramError as exc:
            # An answer we cannot read (e.g. no result in a 200): it may have been posted.
            raise UnknownOutcomeError(self.name, _words(f"{method} outcome unknown", exc)) \
                from None

    async def _edit_request(self, chat: str | int, method: str, post: RenderedPost,
                            message_id: int) -> Message:
        if method == "editMessageCaption":
            result = await self._bot.edit_message_caption(
                chat_id=chat, message_id=message_id, caption=post.text,
                parse_mode=ParseMode.HTML)
        else:
            result = await self._bot.edit_message_text(
                text=post.text, chat_id=chat, message_id=message_id,
                parse_mode=ParseMode.HTML, link_preview_options=self._preview(post, False))
        if not isinstance(result, Message):  # True: an inline message, which we never send
            raise UnknownOutcomeError(self.name, f"{method}: Telegram answered without the "
                                      "message")
        return result

    def _preview(self, post: RenderedPost, fallback: bool) -> LinkPreviewOptions:
        mode = self._cfg.link_preview
        if fallback:
            return LinkPreviewOptions(url=post.link or None, prefer_large_media=True,
                                      show_above_text=mode == "above")
        if mode == "off":
            return LinkPreviewOptions(is_disabled=True)
        return LinkPreviewOptions(url=post.link or None, show_above_text=mode == "above")

    def _receipt(self, message: Message, note: str = "") -> Receipt:
        chat = message.chat
        extra = {"chat_id": str(chat.id)}
        return Receipt(platform_id=str(message.message_id),
                       url=message_url(chat.id, chat.username, message.message_id),
                       note=note, extra=extra)


def message_url(chat_id: int, username: str | None, message_id: int) -> str:
    """A link to a message: t.me/<name>/<id> for public chats, t.me/c/… for -100 ids."""
    if username:
        return f"https://t.me/{username}/{message_id}"
    text = str(chat_id)
    if text.startswith("-100"):
        return f"https://t.me/c/{text[4:]}/{message_id}"
    return ""


def _chat_id(chat: str | int) -> str | int:
    if isinstance(chat, int):
        return chat
    chat = chat.strip()
    if chat.lstrip("-").isdigit():
        return int(chat)
    return chat if chat.startswith("@") else f"@{chat}"


def _retry_after(exc: RetryAfter) -> float:
    """Telegram's retry_after in seconds (PTB warns that its type will change; both work)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: int | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _words(what: str, exc: TelegramError) -> str:
    """``what`` plus Telegram's own words, with any secret masked."""
    return redact(f"{what}: {exc.message}")


def _timeout_error(name: str, method: str, exc: TimedOut) -> ChannelError:
    if isinstance(exc.__cause__, _NOT_SENT) or "Pool timeout" in exc.message:
        return RetryableError(name, _words(f"{method} not sent", exc))
    return UnknownOutcomeError(
        name, _words(f"{method} timed out after the request was sent; it may have been posted",
                     exc))


def _network_error(name: str, method: str, exc: NetworkError) -> ChannelError:
    cause = exc.__cause__
    if isinstance(cause, _NOT_SENT):
        return RetryableError(name, _words(f"{method} not sent", exc))
    if cause is None:
        # Telegram answered with a 5xx (or another status PTB has no class for).
        return RetryableError(name, _words(f"{method} failed on Telegram's side", exc))
    return UnknownOutcomeError(
        name, _words(f"{method} connection failed after sending; it may have been posted", exc))
