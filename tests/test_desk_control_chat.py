"""The Telegram control chat against the local Bot API server: posts needing approval
arrive with buttons; an editor's tap acts like the desk's button and the message says who
did what; anyone else's tap changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.desk import actions
from bot.desk.control_chat import ControlChat, run_control_chat
from bot.models import DeliveryStatus
from bot.operations import run_cycle
from bot.store import Store, open_store
from tests import desk_kit as kit
from tests.fakes.telegram_api import TOKEN, Accepted, FakeTelegramAPI

GROUP = "-1001234567"
EDITOR, STRANGER = 111, 222
CONFIG = """\
public_url: https://news.example.org/bot
store: sqlite:///newsbot.db
desk:
  enabled: true
  telegram: {{chat: {group}, token: "${{DESK_TG_TOKEN}}", api_url: "{api}", poll_timeout: 0s}}
  editors: [{editor}]
sources: [{{id: en, url: feed.xml}}]
channels:
  tg:
    type: telegram
    chat: "@news"
    token: ${{DESK_TG_TOKEN}}
    api_url: {api}
    photo: never
    approval: required
"""


@pytest.fixture
def project(tmp_path: Path, telegram_api: FakeTelegramAPI,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Config, Store]]:
    monkeypatch.setenv("DESK_TG_TOKEN", TOKEN)
    (tmp_path / "feed.xml").write_text("<rss version='2.0'><channel></channel></rss>")
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(group=GROUP, api=telegram_api.base_url, editor=EDITOR))
    config = load_config(path)
    store = open_store(config.store_url)
    yield config, store
    store.close()


def _asked(api: FakeTelegramAPI) -> list[Accepted]:
    return [m for m in api.messages if m.chat == GROUP]


async def _chat(config: Config) -> ControlChat:
    assert config.desk.telegram is not None
    return ControlChat(config.desk.telegram)


async def test_a_post_needing_approval_is_posted_to_the_group_with_buttons(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI) -> None:
    config, store = project
    article = kit.add_article(store, config, 1, title="Dam <opens>", now=datetime.now(UTC))
    chat = await _chat(config)
    try:
        await chat.step(config, store)
        await chat.step(config, store)  # posted once, not once per round
    finally:
        await chat.close()
    (asked,) = _asked(telegram_api)
    assert "Needs approval" in (asked.text or "") and "Dam &lt;opens&gt;" in (asked.text or "")
    keyboard = asked.options["reply_markup"]["inline_keyboard"]
    (delivery,) = store.deliveries_of_article(article.id)
    labels = [b["text"] for row in keyboard for b in row]
    assert labels == ["Approve", "Hold", "Skip", "Post now", "Open in desk"]
    assert keyboard[-1][0]["url"] == f"https://news.example.org/bot/desk/articles/{article.id}"
    assert keyboard[0][0]["callback_data"] == f"d:approve:{delivery.id}"


async def test_an_editor_approves_in_the_chat_and_the_post_goes_out(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI) -> None:
    config, store = project
    article = kit.add_article(store, config, 1, title="Dam opens", now=datetime.now(UTC))
    (delivery,) = store.deliveries_of_article(article.id)
    chat = await _chat(config)
    try:
        await chat.step(config, store)
        (asked,) = _asked(telegram_api)
        tap = telegram_api.tap(asked, f"d:approve:{delivery.id}", user_id=EDITOR,
                               first_name="Alice")
        (tapped,) = await chat.step(config, store)
    finally:
        await chat.close()
    assert tapped.allowed and tapped.said == "approved"
    assert tap.answer is not None and "approved" in tap.answer["text"]
    assert store.get_delivery(delivery.id).status is DeliveryStatus.PENDING
    (action,) = store.actions(delivery_id=delivery.id)
    assert (action.action, action.editor) == ("approve", "Alice (telegram 111)")
    edit = telegram_api.control.edits[-1]
    assert "approved by Alice (telegram 111)" in edit["text"]
    assert edit["reply_markup"] is None  # the buttons are gone
    await run_cycle(config, store)
    (posted,) = [m for m in telegram_api.messages if m.chat == "@news"]
    assert "Dam opens" in (posted.text or "")
    assert store.get_delivery(delivery.id).status is DeliveryStatus.SENT


async def test_a_tap_by_someone_not_in_desk_editors_is_refused_and_changes_nothing(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI,
        caplog: pytest.LogCaptureFixture) -> None:
    config, store = project
    article = kit.add_article(store, config, 1, now=datetime.now(UTC))
    (delivery,) = store.deliveries_of_article(article.id)
    chat = await _chat(config)
    try:
        await chat.step(config, store)
        (asked,) = _asked(telegram_api)
        tap = telegram_api.tap(asked, f"d:post-now:{delivery.id}", user_id=STRANGER,
                               first_name="Mallory")
        with caplog.at_level(logging.WARNING, logger="newsbot.desk.chat"):
            (tapped,) = await chat.step(config, store)
    finally:
        await chat.close()
    assert not tapped.allowed
    assert tap.answer is not None and tap.answer["text"] == "not allowed"
    assert store.get_delivery(delivery.id).status is DeliveryStatus.AWAITING
    assert store.actions(delivery_id=delivery.id) == []
    assert telegram_api.control.edits == []
    assert "Mallory (telegram user 222)" in caplog.text and "not allowed" in caplog.text
    await run_cycle(config, store)
    assert [m for m in telegram_api.messages if m.chat == "@news"] == []


async def test_a_post_decided_in_the_desk_has_its_chat_message_edited_to_say_so(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI) -> None:
    config, store = project
    article = kit.add_article(store, config, 1, now=datetime.now(UTC))
    (delivery,) = store.deliveries_of_article(article.id)
    chat = await _chat(config)
    try:
        await chat.step(config, store)
        actions.act(store, "skip", delivery.id, by="ada", now=kit.NOW)
        await chat.step(config, store)
        await chat.step(config, store)  # edited once
    finally:
        await chat.close()
    (edit,) = telegram_api.control.edits
    assert "skipped by ada" in edit["text"]


async def test_a_restarted_chat_does_not_act_on_a_tap_twice(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI) -> None:
    config, store = project
    article = kit.add_article(store, config, 1, now=datetime.now(UTC))
    (delivery,) = store.deliveries_of_article(article.id)
    first = await _chat(config)
    try:
        await first.step(config, store)
        telegram_api.tap(_asked(telegram_api)[0], f"d:hold:{delivery.id}", user_id=EDITOR)
        assert len(await first.step(config, store)) == 1
    finally:
        await first.close()
    second = await _chat(config)
    try:
        assert await second.step(config, store) == []
    finally:
        await second.close()
    assert [a.action for a in store.actions(delivery_id=delivery.id)] == ["hold"]


@dataclass
class Host:
    config: Config
    store: Store
    is_leader: bool


async def test_only_the_worker_holding_the_poll_lease_runs_the_chat(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI) -> None:
    config, store = project
    kit.add_article(store, config, 1, now=datetime.now(UTC))
    host = Host(config, store, is_leader=False)
    task = asyncio.create_task(run_control_chat(host, idle=0.05))
    try:
        await asyncio.sleep(0.3)
        assert _asked(telegram_api) == []
        host.is_leader = True
        for _ in range(100):
            await asyncio.sleep(0.05)
            if _asked(telegram_api):
                break
        assert len(_asked(telegram_api)) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_burst_of_posts_needing_approval_is_posted_a_few_per_round_at_a_pace(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI) -> None:
    config, store = project
    for n in range(6):
        kit.add_article(store, config, n, now=datetime.now(UTC))
    assert config.desk.telegram is not None
    chat = ControlChat(config.desk.telegram, pace=1.05)  # Telegram: one a second per chat
    try:
        await chat.step(config, store)
        assert len(_asked(telegram_api)) == 5
        await chat.step(config, store)
    finally:
        await chat.close()
    assert len(_asked(telegram_api)) == 6
    assert telegram_api.count(429) == 0


async def test_a_post_in_its_approval_window_is_offered_to_the_group_and_can_be_held(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI, tmp_path: Path) -> None:
    config, store = project
    path = tmp_path / "config.yaml"
    path.write_text(path.read_text().replace("approval: required", "approval: {window: 15m}"))
    config = load_config(path)
    article = kit.add_article(store, config, 1, now=datetime.now(UTC))
    (delivery,) = store.deliveries_of_article(article.id)
    assert delivery.status is DeliveryStatus.PENDING
    chat = await _chat(config)
    try:
        await chat.step(config, store)
        (asked,) = _asked(telegram_api)
        assert "Goes by itself at" in (asked.text or "") and "unless held" in (asked.text or "")
        telegram_api.tap(asked, f"d:hold:{delivery.id}", user_id=EDITOR, first_name="Alice")
        await chat.step(config, store)
    finally:
        await chat.close()
    assert store.get_delivery(delivery.id).status is DeliveryStatus.HELD
    assert "held by Alice" in telegram_api.control.edits[-1]["text"]
