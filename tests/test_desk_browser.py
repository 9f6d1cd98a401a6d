"""The desk in a real browser: Debian's Chromium driven by Playwright (no browser download),
against the bot's web app served on 127.0.0.1, the local X API server behind the X channel.
One browser for the module; each test gets a fresh project, server and page. Screenshots
at 1280 and 390 px go to tests/artifacts/ (git ignores it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Config
from bot.desk.control_chat import ControlChat
from bot.models import DeliveryStatus
from bot.operations import run_cycle
from bot.store import Store
from bot.web.app import make_app
from tests import desk_kit as kit
from tests.desk_kit import cheap_argon2  # noqa: F401  (a fixture)
from tests.fakes.telegram_api import TOKEN as TG_TOKEN
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.x_api import ENV as X_ENV
from tests.fakes.x_api import FakeXApi

pytestmark = pytest.mark.usefixtures("cheap_argon2")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    kit.chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(kit.CHROMIUM),
                                     args=kit.CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Desk:
    path: Path
    config: Config
    store: Store
    url: str
    x_api: FakeXApi


@pytest.fixture
def desk(tmp_path: Path, x_api: FakeXApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    for name, value in zip(("DESK_TEST_X_KEY", "DESK_TEST_X_SECRET", "DESK_TEST_X_TOKEN",
                            "DESK_TEST_X_TOKEN_SECRET"), X_ENV.values(), strict=True):
        monkeypatch.setenv(name, value)
    path = kit.write_project(tmp_path / "project", x_api=x_api.base_url)
    config, store = kit.open_project(path)
    kit.add_accounts(store)
    with kit.LiveServer(make_app(config, store, config_path=path)) as server:
        yield Desk(path, config, store, server.url, x_api)
    store.close()


@pytest.fixture
def page(browser: Any, desk: Desk) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def log_in(page: Any, desk: Desk) -> None:
    page.goto(f"{desk.url}/desk/")
    assert "/desk/login" in page.url  # no page without a session
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", kit.ADMIN_PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{desk.url}/desk/")


def shoot(page: Any, name: str, *, widths: tuple[int, ...] = (1280, 390)) -> None:
    kit.ARTIFACTS.mkdir(exist_ok=True)
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(kit.ARTIFACTS / f"desk-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def now() -> datetime:
    return datetime.now(UTC)


def once(desk: Desk) -> None:
    """`newsbot once` on the project (in a thread: Playwright's sync API holds this one's
    event loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run_cycle(desk.config, desk.store, now=now())).result()


def test_an_editor_logs_in_sees_the_queue_and_opens_a_preview(page: Any, desk: Desk) -> None:
    kit.add_article(desk.store, desk.config, 1, now=now(), title="Dam opens on the Tigris",
                    summary="The new dam opened on Monday. It holds a year of water.")
    kit.add_article(desk.store, desk.config, 2, now=now(), title="Rail link study signed")
    log_in(page, desk)
    assert page.locator("li.post").count() == 4  # two articles, two channels each
    waiting = page.locator("li.post.status-awaiting")
    assert waiting.count() == 2  # tg: approval required
    assert "awaiting approval" in waiting.first.inner_text()
    shoot(page, "queue")
    page.click("a.title:has-text('Dam opens on the Tigris')")
    bubble = page.locator("#channel-tg .tg-bubble")
    assert "Dam opens on the Tigris" in bubble.inner_text()
    assert bubble.locator("b").first.inner_text() == "Dam opens on the Tigris"  # HTML shown
    assert "/ 4096 UTF-16 units" in page.locator("#channel-tg .measure").first.inner_text()
    assert "/ 280 weighted characters" in page.locator("#channel-x .measure").first.inner_text()
    shoot(page, "post")
    page.click("nav a:has-text('Plan')")
    assert "awaiting approval" in page.locator("section[data-channel=tg]").inner_text()
    shoot(page, "plan", widths=(1280,))
    page.click("nav a:has-text('Sources')")
    assert page.locator("tr[data-channel=x] button:has-text('Pause')").count() == 1
    shoot(page, "status", widths=(1280,))


def test_an_x_edit_past_280_is_refused_and_one_that_fits_is_what_x_receives(
        page: Any, desk: Desk) -> None:
    article = kit.add_article(desk.store, desk.config, 1, now=now(), title="Dam opens")
    log_in(page, desk)
    page.goto(f"{desk.url}/desk/articles/{article.id}")
    box = page.locator("#channel-x textarea[name=text]")
    box.fill("Too long: " + "water " * 50)
    page.wait_for_selector("#channel-x .measure .count.over")  # htmx counts as you type
    page.click("#channel-x button:has-text('Save text')")
    refusal = page.locator("#channel-x .refused")
    assert "at most 280" in refusal.inner_text()
    shoot(page, "edit-refused", widths=(1280,))
    (x,) = [d for d in desk.store.deliveries_of_article(article.id) if d.channel == "x"]
    assert desk.store.get_delivery(x.id).edited_text == ""
    edited = "Dam opens: a year of water for Baghdad. https://news.example.org/1"
    page.locator("#channel-x textarea[name=text]").fill(edited)
    page.click("#channel-x button:has-text('Save text')")
    assert "x: edited" in page.locator(".said").inner_text()
    once(desk)
    assert [t.text for t in desk.x_api.tweets] == [edited]
    assert desk.store.get_delivery(x.id).status is DeliveryStatus.SENT


def test_skipping_a_post_takes_it_out_of_the_queue(page: Any, desk: Desk) -> None:
    kit.add_article(desk.store, desk.config, 1, now=now(), title="Skip me")
    log_in(page, desk)
    row = page.locator("li.post[data-channel=x]")
    assert "Skip me" in row.inner_text()
    row.locator("button[data-action=skip]").click()
    assert "skipped" in page.locator(".said").inner_text()
    assert page.locator("li.post[data-channel=x]").count() == 0
    assert page.locator("li.post[data-channel=tg]").count() == 1


def test_a_window_changed_in_the_schedule_form_changes_newsbot_plan(
        page: Any, desk: Desk) -> None:
    article = kit.add_article(desk.store, desk.config, 1, now=now())
    (x,) = [d for d in desk.store.deliveries_of_article(article.id) if d.channel == "x"]
    runner = CliRunner()

    def plan_line() -> str:
        out = runner.invoke(cli, ["--config", str(desk.path), "plan", "--channel", "x"]).output
        return next(line for line in out.splitlines() if f"#{x.id}" in line)

    assert "window opens" not in plan_line()
    start = (now().hour + 6) % 24  # a window closed for hours, whatever the time
    log_in(page, desk)
    page.click("nav a:has-text('Schedule')")
    form = page.locator("#schedule-x form")
    form.locator("textarea[name=windows]").fill(f"{start:02d}:00-{start:02d}:30")
    shoot(page, "schedule")
    form.locator("button[type=submit]").click()
    assert "schedule saved" in page.locator(".said").inner_text()
    assert "window opens" in plan_line() and f"{start:02d}:00" in plan_line()
    assert "# The newsroom's file" in desk.path.read_text()  # comments kept


def test_approved_in_the_telegram_chat_the_post_goes_out_and_the_desk_shows_it(
        browser: Any, tmp_path: Path, telegram_api: FakeTelegramAPI,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_TEST_TG_TOKEN", TG_TOKEN)
    path = kit.write_project(
        tmp_path / "project", tg_api=telegram_api.base_url,
        desk_extra=(f', telegram: {{chat: "-100777", token: "${{DESK_TEST_TG_TOKEN}}", '
                    f'api_url: "{telegram_api.base_url}", poll_timeout: 0s}}, editors: [111]'))
    config, store = kit.open_project(path)
    kit.add_accounts(store)
    article = kit.add_article(store, config, 1, now=now(), title="Approved from Telegram")
    (tg,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "tg"]
    assert config.desk.telegram is not None
    chat = ControlChat(config.desk.telegram)

    def chat_step() -> None:
        async def step() -> None:
            try:
                await chat.step(config, store)
            finally:
                await chat.close()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, step()).result()

    try:
        with kit.LiveServer(make_app(config, store, config_path=path)) as server:
            desk = Desk(path, config, store, server.url, FakeXApi())
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            log_in(page, desk)
            assert page.locator(f"#delivery-{tg.id}.status-awaiting").count() == 1
            chat_step()
            (asked,) = [m for m in telegram_api.messages if m.chat == "-100777"]
            telegram_api.tap(asked, f"d:approve:{tg.id}", user_id=111, first_name="Alice")
            chat_step()
            once(desk)
            (posted,) = [m for m in telegram_api.messages if m.chat == "@news"]
            assert "Approved from Telegram" in (posted.text or "")
            page.goto(f"{desk.url}/desk/history?channel=tg")
            row = page.locator(f"tr[data-id='{tg.id}']")
            assert "sent" in row.inner_text()
            page.goto(f"{desk.url}/desk/articles/{article.id}")
            assert "approve" in page.locator(".log").inner_text()
            assert "Alice (telegram 111)" in page.locator(".log").inner_text()
            context.close()
    finally:
        store.close()
