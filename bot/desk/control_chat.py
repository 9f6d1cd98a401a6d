"""The Telegram control chat: the editors' group, where each post that needs approval
arrives with buttons (Approve / Hold / Skip / Post now / Open in desk).

- A tap acts exactly as the desk's button (bot.desk.actions, recorded with who did it), and
  the bot edits its message to say who did what. A post decided in the desk (or with
  ``newsbot approve``) gets its message edited too.
- Only the Telegram user ids in ``desk.editors`` may act; any other tap is answered "not
  allowed", changes nothing, and is logged.
- Updates come by long polling (getUpdates), in the process that holds the poll lease, so
  there is no webhook to expose and two workers never both answer. The getUpdates offset
  is kept in the store, so a restart neither loses nor repeats a tap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.config import Config, DeskTelegram
from bot.desk.hooks import NO_BOT, BotHooks, nothing
from bot.models import Delivery, DeliveryStatus
from bot.plan import APPROVAL_WINDOW_NOTE
from bot.store import Store

log = logging.getLogger("newsbot.desk.chat")

OFFSET = "control_chat.offset"
IDLE = 5.0  # seconds between looks while this worker is not the leader
PER_ROUND = 5  # approval requests posted per round, PACE apart: a group takes ~20 a minute
PACE = 3.0  # seconds between two messages to the group
BACKOFF_MAX = 300.0  # seconds: a chat that keeps failing (a bad token) is tried this often
_BUTTONS = (("approve", "Approve"), ("hold", "Hold"), ("skip", "Skip"),
            ("post-now", "Post now"))
_SAID = {"approve": "approved", "hold": "held", "skip": "skipped", "post-now": "sent to post now",
         "release": "released", "edit": "edited", "reschedule": "rescheduled"}


class ChatHost(Protocol):
    """What the control chat needs from the running bot (bot.scheduler.Service)."""

    config: Config
    store: Store
    is_leader: bool


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Tapped:
    """One button tap, as the chat understood it."""

    user_id: int
    name: str
    action: str
    delivery_id: int
    allowed: bool
    said: str  # what the bot answered


class ControlChat:
    """One connection to the editors' group (python-telegram-bot's ``Bot``)."""

    def __init__(self, settings: DeskTelegram, *, clock: Callable[[], datetime] = _now,
                 pace: float = PACE, wake: Callable[[], None] = nothing) -> None:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        from bot.channels.telegram import api_urls
        from bot.redact import install_redaction

        token = settings.token.get_secret_value() if settings.token else ""
        if not token:
            raise ValueError("desk.telegram.token: set the variable it names")
        install_redaction(token)  # httpx logs URLs, and a Bot API URL contains the token
        self.settings = settings
        self.clock = clock
        self.pace = pace
        self.wake = wake  # the dispatcher in this process: a tap may let a post go now
        self._last_sent = float("-inf")
        seconds = settings.timeout.total_seconds()
        poll = settings.poll_timeout.total_seconds()
        base_url, base_file_url = api_urls(settings.api_url)
        self._bot = Bot(token, base_url=base_url, base_file_url=base_file_url,
                        request=HTTPXRequest(read_timeout=seconds + poll, write_timeout=seconds,
                                             connect_timeout=min(seconds, 10.0)))
        self._ready = False

    async def close(self) -> None:
        if self._ready:
            with contextlib.suppress(Exception):
                await self._bot.shutdown()
            self._ready = False

    async def _start(self) -> None:
        if not self._ready:
            await self._bot.initialize()
            self._ready = True

    # -- one round --------------------------------------------------------------------------

    async def step(self, config: Config, store: Store) -> list[Tapped]:
        """Post what newly needs approval, close what was decided elsewhere, then wait (up
        to ``poll_timeout``) for taps and act on them."""
        await self._start()
        await self.announce(config, store)
        await self.close_decided(store)
        return await self.poll(config, store)

    async def say(self, text: str) -> None:
        """Post one line of HTML to the group (alerts)."""
        await self._start()
        await self._keep_pace()
        await self._bot.send_message(chat_id=self.settings.chat, text=text, parse_mode="HTML",
                                     link_preview_options=_no_preview())

    async def announce(self, config: Config, store: Store) -> int:
        """Post each delivery awaiting approval that has no message yet; returns how many."""
        posted = 0
        chat = str(self.settings.chat)
        now = self.clock()
        for delivery in store.deliveries(statuses=[DeliveryStatus.AWAITING,
                                                   DeliveryStatus.PENDING]):
            if not needs_an_editor(delivery, now):
                continue
            if store.control_message(delivery.id) is not None:
                continue
            if posted >= PER_ROUND:
                break
            await self._keep_pace()
            if not store.claim_control_message(delivery.id, chat, now=self.clock()):
                continue
            try:
                message = await self._bot.send_message(
                    chat_id=self.settings.chat, text=_ask_text(config, store, delivery),
                    parse_mode="HTML", reply_markup=self._keyboard(config, delivery),
                    link_preview_options=_no_preview())
            except Exception as exc:
                # The next round tries again; the rest wait too (a group takes about 20
                # messages a minute, and a 429 says to slow down).
                store.forget_control_message(delivery.id)
                log.warning("desk chat: could not post delivery %d for approval: %s",
                            delivery.id, exc)
                break
            store.set_control_message(delivery.id, message_id=message.message_id)
            posted += 1
        return posted

    async def _keep_pace(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_sent + self.pace - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent = loop.time()

    async def close_decided(self, store: Store) -> None:
        """Edit the message of every post that no longer awaits approval (decided in the
        desk, from the command line, or by another tap) to say who did what."""
        for held in store.open_control_messages():
            delivery = store.get_delivery(held.delivery_id)
            if delivery is not None and needs_an_editor(delivery, self.clock()):
                continue
            last = store.actions(delivery_id=held.delivery_id, limit=1)
            who = f"{_SAID.get(last[0].action, last[0].action)} by {last[0].editor}" if last \
                else f"now {delivery.status.value if delivery else 'gone'}"
            await self._settle(store, held.delivery_id, held.message_id, who)

    async def poll(self, config: Config, store: Store) -> list[Tapped]:
        offset = int(store.desk_value(OFFSET, "0") or 0)
        updates = await self._bot.get_updates(
            offset=offset or None, timeout=int(self.settings.poll_timeout.total_seconds()),
            allowed_updates=["callback_query"])
        done: list[Tapped] = []
        for update in updates:
            store.set_desk_value(OFFSET, str(update.update_id + 1), now=self.clock())
            query = update.callback_query
            if query is None or not query.data:
                continue
            done.append(await self._tap(config, store, query))
        return done

    # -- a tap ------------------------------------------------------------------------------

    async def _tap(self, config: Config, store: Store, query: Any) -> Tapped:
        from bot.desk import actions

        user = query.from_user
        name = user.full_name or str(user.id)
        parts = str(query.data).split(":")
        action = parts[1] if len(parts) == 3 and parts[0] == "d" else ""
        delivery_id = int(parts[2]) if action and parts[2].isdigit() else 0
        in_chat = query.message is not None and _same_chat(query.message.chat, self.settings)
        allowed = user.id in config.desk.editors and in_chat
        if not allowed or not delivery_id or action not in dict(_BUTTONS):
            log.warning("desk chat: %s (telegram user %d) tapped %r: not allowed (not in "
                        "desk.editors)", name, user.id, query.data)
            await query.answer("not allowed", show_alert=True)
            return Tapped(user.id, name, action, delivery_id, False, "not allowed")
        who = f"{name} (telegram {user.id})"
        try:
            result = actions.act(store, action, delivery_id, by=who, now=self.clock(),
                                 wake=self.wake)
        except (LookupError, ValueError) as exc:
            await query.answer(str(exc)[:190], show_alert=True)
            await self.close_decided(store)
            return Tapped(user.id, name, action, delivery_id, True, str(exc))
        await query.answer(f"#{delivery_id} {result.said}")
        if query.message is not None:
            await self._settle(store, delivery_id, query.message.message_id,
                               f"{result.said} by {who}")
        return Tapped(user.id, name, action, delivery_id, True, result.said)

    async def _settle(self, store: Store, delivery_id: int, message_id: int, said: str) -> None:
        from telegram.error import BadRequest

        delivery = store.get_delivery(delivery_id)
        title = _title(store, delivery) if delivery else ""
        text = f"<b>#{delivery_id}</b> {_escape(title)}\n{_escape(said)}"
        try:
            await self._bot.edit_message_text(text=text, chat_id=self.settings.chat,
                                              message_id=message_id, parse_mode="HTML",
                                              link_preview_options=_no_preview())
        except BadRequest as exc:
            if "not modified" not in str(exc):
                log.warning("desk chat: could not edit the message for delivery %d: %s",
                            delivery_id, exc)
        store.set_control_message(delivery_id, closed=True)

    def _keyboard(self, config: Config, delivery: Delivery) -> Any:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        rows = [[InlineKeyboardButton(label, callback_data=f"d:{action}:{delivery.id}")
                 for action, label in _BUTTONS[:2]],
                [InlineKeyboardButton(label, callback_data=f"d:{action}:{delivery.id}")
                 for action, label in _BUTTONS[2:]]]
        if config.public_url.startswith("https://"):  # Telegram refuses other links
            rows.append([InlineKeyboardButton(
                "Open in desk",
                url=f"{config.public_url.rstrip('/')}/desk/articles/{delivery.article_id}")])
        return InlineKeyboardMarkup(rows)


def needs_an_editor(delivery: Delivery, now: datetime) -> bool:
    """Awaiting approval (``approval: required``), or in its approval window (``approval:
    {window: …}``: it goes by itself at its due time unless an editor holds it first)."""
    if delivery.status is DeliveryStatus.AWAITING:
        return True
    return (delivery.status is DeliveryStatus.PENDING and delivery.note == APPROVAL_WINDOW_NOTE
            and delivery.due_at > now)


def _no_preview() -> Any:
    from telegram import LinkPreviewOptions

    return LinkPreviewOptions(is_disabled=True)


def _same_chat(chat: Any, settings: DeskTelegram) -> bool:
    configured = str(settings.chat)
    if configured.startswith("@"):
        return bool(chat.username) and f"@{chat.username}".lower() == configured.lower()
    return str(chat.id) == configured


def _escape(text: str) -> str:
    from bot.channels.telegram_html import escape

    return escape(text)


def _title(store: Store, delivery: Delivery) -> str:
    articles = store.get_articles([delivery.article_id])
    return articles[delivery.article_id].title if delivery.article_id in articles else "?"


def _ask_text(config: Config, store: Store, delivery: Delivery) -> str:
    """The approval request: channel, title, and the post as its readers would read it."""
    from bot.channels.telegram_html import TelegramHtmlError, parse
    from bot.desk.previews import preview_delivery

    article = store.get_article(delivery.article_id)
    preview = preview_delivery(config, article, delivery)
    body = preview.text
    if preview.kind == "telegram":
        with contextlib.suppress(TelegramHtmlError):
            body = parse(body).text
    if len(body) > 3000:
        body = body[:3000].rstrip() + "…"
    local = delivery.due_at.astimezone(config.zone_for(delivery.channel))
    head = "Needs approval" if delivery.status is DeliveryStatus.AWAITING else (
        f"Goes by itself at {local:%H:%M} unless held")
    return (f"<b>{head}</b> · {_escape(delivery.channel)} · #{delivery.id}\n"
            f"<b>{_escape(article.title)}</b>\n\n{_escape(body)}")


# ------------------------------------------------------------------ the running bot's loop


async def run_control_chat(host: ChatHost, *, idle: float = IDLE,
                           hooks: BotHooks = NO_BOT) -> None:
    """Until cancelled, while this worker leads and the desk is enabled: one round of the
    control chat (when ``desk.telegram`` is set), then the alerts that started or ended
    (to the chat and to ``desk.alerts_email``). A configuration reload is followed. An
    editor's tap that lets a post go sooner calls ``hooks.wake_dispatch``."""
    from bot.desk.alerts import tell

    chat: ControlChat | None = None
    failures = 0
    try:
        while True:
            config = host.config
            if not host.is_leader or not config.desk.enabled:
                await asyncio.sleep(idle)
                continue
            settings = config.desk.telegram
            if settings is not None and settings.token is not None:
                if chat is None or chat.settings != settings:
                    if chat is not None:
                        await chat.close()
                    chat = ControlChat(settings, wake=hooks.wake_dispatch)
            elif chat is not None:
                await chat.close()
                chat = None
            try:
                if chat is not None:
                    await chat.step(config, host.store)
                else:
                    await asyncio.sleep(idle)
                await tell(config, host.store, chat.say if chat else None, now=_now())
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the chat must never stop the bot; try again later
                failures += 1
                wait = min(idle * 2 ** (failures - 1), BACKOFF_MAX)
                log.warning("desk chat: %s (trying again in %.0fs)", exc, wait)
                await asyncio.sleep(wait)
    finally:
        if chat is not None:
            await chat.close()


def start_control_chat(host: ChatHost, hooks: BotHooks = NO_BOT) -> asyncio.Task[None]:
    """Run the control chat beside the bot (it idles until configured and leading)."""
    return asyncio.create_task(run_control_chat(host, hooks=hooks), name="desk-chat")


async def stop_control_chat(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
