"""An editor's action on the desk under `newsbot run` wakes the dispatcher: the post goes out
at once, not at the loop's next wake.

``dispatch_every`` is 10 minutes here and the dispatch loop has already looked at the store
and gone to sleep before the editor acts, so a post that reaches the Telegram chat within a
few seconds went because the desk woke the loop. Real Service, desk pages over its own HTTP
server, control chat and channel against the local Bot API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot import editor
from bot.config import Config
from bot.models import DeliveryStatus
from bot.operations import make_dispatcher
from bot.outlets import build_outlets, close_outlets
from bot.scheduler import POLL_LEASE, Service
from bot.store import Store
from tests import desk_kit as kit
from tests.desk_kit import SAME, cheap_argon2  # noqa: F401  (a fixture)
from tests.fakes.telegram_api import TOKEN, Accepted, FakeTelegramAPI
from tests.feed_server import free_port

pytestmark = pytest.mark.usefixtures("cheap_argon2")

GROUP = "-100777"
EDITOR = 111
#: Well under dispatch_every (10 minutes): only a wake explains a post this quick.
SOON = 3.0


@dataclass
class Running:
    service: Service
    store: Store
    config: Config
    path: Path
    url: str


def _window_not_now() -> str:
    start = (datetime.now(UTC).hour + 2) % 24
    return f"{start:02d}:00-{start + 1:02d}:00"


async def _start(tmp_path: Path, telegram_api: FakeTelegramAPI, *, closed_window: bool = False,
                 prepare: Callable[[Config, Store], None] = lambda c, s: None
                 ) -> tuple[Running, Callable[[], None]]:
    port = free_port()
    path = kit.write_project(
        tmp_path / "project", tg_api=telegram_api.base_url,
        desk_extra=(f', telegram: {{chat: "{GROUP}", token: "${{DESK_TEST_TG_TOKEN}}", '
                    f'api_url: "{telegram_api.base_url}", poll_timeout: 0s}}, '
                    f'editors: [{EDITOR}]'),
        extra=f"dispatch_every: 10m\nweb: {{enabled: true, host: 127.0.0.1, port: {port}}}\n")
    if closed_window:
        path.write_text(path.read_text().replace("00:00-24:00", _window_not_now()))
    config, store = kit.open_project(path)
    kit.add_accounts(store)
    prepare(config, store)
    service = Service(path, config, store, check_at_start=False)
    # A worker that already holds the poll lease: its control chat starts at once rather
    # than after its first idle wait for the first poll tick.
    now = datetime.now(UTC)
    assert store.acquire_lease(POLL_LEASE, service.worker, now=now,
                               until=now + service.settings.lease_ttl)
    service.is_leader = True
    await service.start()
    assert service.scheduler is not None
    # The dispatch loop starts now rather than 2 s in; it looks at the store, finds nothing
    # it may send, and sleeps for dispatch_every.
    service.scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))
    for _ in range(200):
        if service.dispatch_loop is not None and service.last_tick is not None:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    return Running(service, store, config, path, f"http://127.0.0.1:{port}"), store.close


@pytest.fixture
async def bot(tmp_path: Path, telegram_api: FakeTelegramAPI,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    monkeypatch.setenv("DESK_TEST_TG_TOKEN", TOKEN)
    running, close = await _start(tmp_path, telegram_api)
    yield running
    await running.service.stop()
    close()


def _posted(api: FakeTelegramAPI) -> list[Accepted]:
    return [m for m in api.messages if m.chat == "@news"]


async def _posted_within(api: FakeTelegramAPI, seconds: float) -> list[Accepted]:
    deadline = time.monotonic() + seconds
    while not _posted(api) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return _posted(api)


@contextlib.asynccontextmanager
async def _desk(url: str, name: str = "eve", password: str = kit.EDITOR_PASSWORD
                ) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in browser (the server runs on this very event loop: async only)."""
    async with httpx.AsyncClient(base_url=url, follow_redirects=False) as client:
        response = await client.post("/desk/login", headers=SAME, data={
            "name": name, "password": password, "next": "/desk/"})
        assert response.status_code == 303, response.text
        yield client


async def _csrf(client: httpx.AsyncClient, page: str = "/desk/") -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', (await client.get(page)).text)
    assert match, "no form token on the page"
    return match[1]


@pytest.mark.parametrize("action", ["approve", "post-now"])
async def test_approve_or_post_now_on_the_web_desk_posts_at_once(
        bot: Running, telegram_api: FakeTelegramAPI, action: str) -> None:
    article = kit.add_article(bot.store, bot.config, 1, now=datetime.now(UTC),
                              title="Bridge reopens")
    (tg,) = [d for d in bot.store.deliveries_of_article(article.id) if d.channel == "tg"]
    assert tg.status is DeliveryStatus.AWAITING
    async with _desk(bot.url) as desk:
        token = await _csrf(desk)
        clicked = time.monotonic()
        response = await desk.post(f"/desk/deliveries/{tg.id}/{action}", headers=SAME,
                                   data={"csrf": token})
        assert response.status_code == 303, response.text
        posted = await _posted_within(telegram_api, SOON)
    assert [m.text and "Bridge reopens" in m.text for m in posted] == [True]
    assert time.monotonic() - clicked < SOON
    assert bot.store.get_delivery(tg.id).status is DeliveryStatus.SENT


async def test_approve_in_the_telegram_chat_posts_at_once(
        bot: Running, telegram_api: FakeTelegramAPI) -> None:
    article = kit.add_article(bot.store, bot.config, 1, now=datetime.now(UTC),
                              title="Ferry timetable")
    (tg,) = [d for d in bot.store.deliveries_of_article(article.id) if d.channel == "tg"]
    asked: list[Accepted] = []
    for _ in range(300):  # the control chat asks the group (it runs once the poll leads)
        asked = [m for m in telegram_api.messages if m.chat == GROUP]
        if asked:
            break
        await asyncio.sleep(0.02)
    (question,) = asked
    telegram_api.tap(question, f"d:approve:{tg.id}", user_id=EDITOR, first_name="Alice")
    (posted,) = await _posted_within(telegram_api, SOON)
    assert "Ferry timetable" in (posted.text or "")
    (done,) = bot.store.actions(delivery_id=tg.id)
    assert (done.action, done.editor) == ("approve", "Alice (telegram 111)")


async def test_a_window_opened_from_the_desk_schedule_posts_at_once(
        tmp_path: Path, telegram_api: FakeTelegramAPI,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_TEST_TG_TOKEN", TOKEN)

    def approved_post(config: Config, store: Store) -> None:  # waits for its window
        article = kit.add_article(store, config, 1, now=datetime.now(UTC), title="Night bus")
        for d in store.deliveries_of_article(article.id):
            if d.channel == "tg":
                editor.approve(store, d.id, now=datetime.now(UTC))

    bot, close = await _start(tmp_path, telegram_api, closed_window=True,
                              prepare=approved_post)
    try:
        assert bot.service.scheduler is not None
        # Only the desk's hook can reload now: the watcher's own look is held off.
        bot.service.scheduler.pause_job("reload")
        assert _posted(telegram_api) == []
        async with _desk(bot.url, "ada", kit.ADMIN_PASSWORD) as desk:
            page = (await desk.get("/desk/schedule")).text
            section = page[page.index('id="schedule-tg"'):]
            section = section[:section.index("</form>")]
            form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', section))
            form.update(re.findall(r'<textarea name="(\w+)"[^>]*>([^<]*)</textarea>', section))
            form["windows"] = "00:00-24:00"
            saved = await desk.post("/desk/schedule/tg", headers=SAME, data=form)
            assert saved.status_code == 303, saved.text
            (posted,) = await _posted_within(telegram_api, SOON)
        assert "Night bus" in (posted.text or "")
        assert bot.service.config.channels["tg"].schedule != bot.config.channels["tg"].schedule
    finally:
        await bot.service.stop()
        close()


async def test_without_a_dispatcher_the_desk_stores_the_action_and_the_bot_sends_it_later(
        tmp_path: Path, telegram_api: FakeTelegramAPI,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`newsbot serve`: the desk's app has no bot to wake; the action is stored, and the
    running bot's next look at the store sends the post."""
    monkeypatch.setenv("DESK_TEST_TG_TOKEN", TOKEN)
    path = kit.write_project(tmp_path / "project", tg_api=telegram_api.base_url)
    config, store = kit.open_project(path)
    try:
        kit.add_accounts(store)
        article = kit.add_article(store, config, 1, now=datetime.now(UTC), title="Late train")
        (tg,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "tg"]
        client = kit.client(config, store, path)
        kit.log_in(client, "eve", kit.EDITOR_PASSWORD)
        response = client.post(f"/desk/deliveries/{tg.id}/approve", headers=SAME,
                               data={"csrf": kit.csrf(client)})
        assert response.status_code == 303 and "error=" not in response.headers["location"]
        assert store.get_delivery(tg.id).status is DeliveryStatus.PENDING
        assert _posted(telegram_api) == []
        outlets = build_outlets(config, hold_without_credentials=True)
        try:  # the running bot's next wake: its pass over the channel
            await make_dispatcher(config, store, outlets).run_channel("tg")
        finally:
            await close_outlets(outlets)
        (posted,) = _posted(telegram_api)
        assert "Late train" in (posted.text or "")
    finally:
        store.close()
