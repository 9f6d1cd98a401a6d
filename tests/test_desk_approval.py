"""Approval: ``approval: required`` posts wait for an editor; ``approval: {window: 15m}``
posts go by themselves unless an editor holds them in time. Driven through the real
dispatcher and store with an in-memory channel and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import editor
from bot.channels import post_format
from bot.cli import cli
from bot.config import Config, parse_config
from bot.dispatch import Dispatcher
from bot.models import Article, DeliveryStatus, FeedItem, Receipt, RenderedPost
from bot.outlets import Outlet
from bot.plan import Why, plan_article
from bot.render import make_environment
from bot.store import Store
from tests.kit import WallClock

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CONFIG = """
sources: [{id: en, url: feed.xml}]
channels:
  tg: {type: telegram, chat: "@c", token: t, photo: never, approval: required}
  x:
    type: x
    api_key: a
    api_secret: b
    access_token: c
    access_secret: d
    approval: {window: 15m}
"""


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[str] = []

    async def send(self, post: RenderedPost) -> Receipt:
        self.sent.append(post.text)
        return Receipt(platform_id=str(len(self.sent)))

    async def close(self) -> None:
        return None


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config(CONFIG, base_dir=tmp_path)


def _article(store: Store, config: Config) -> Article:
    article, _ = store.add_article(FeedItem(
        source_id="en", guid="g1", url="https://news.example.org/1", title="Dam opens",
        summary="The dam opened.", published=NOW), now=NOW)
    store.create_deliveries(article.id, plan_article(article, config, now=NOW), now=NOW)
    return article


def _dispatcher(store: Store, config: Config, clock: WallClock) -> tuple[Dispatcher,
                                                                     dict[str, Recorder]]:
    channels = {name: Recorder(name) for name in ("tg", "x")}
    outlets = {name: Outlet(name, config.channels[name], post_format(config.channels[name]),
                            channels[name]) for name in channels}

    async def no_wait(_: float) -> None:
        return None

    return Dispatcher(config=config, store=store, outlets=outlets,
                      env=make_environment(config), clock=clock, pace_sleep=no_wait), channels


async def test_a_post_awaiting_approval_is_never_sent_until_approved(
        store: Store, config: Config) -> None:
    _article(store, config)
    clock = WallClock(NOW)
    dispatcher, sent = _dispatcher(store, config, clock)
    (tg,) = store.deliveries(channel="tg")
    assert tg.status is DeliveryStatus.AWAITING
    for _ in range(3):
        clock.now += timedelta(hours=1)
        await dispatcher.run_once()
    assert sent["tg"].sent == []
    editor.approve(store, tg.id, now=clock.now)
    await dispatcher.run_once()
    assert len(sent["tg"].sent) == 1
    assert store.get_delivery(tg.id).status is DeliveryStatus.SENT


async def test_a_post_in_its_approval_window_goes_by_itself_when_the_window_ends(
        store: Store, config: Config) -> None:
    _article(store, config)
    clock = WallClock(NOW)
    dispatcher, sent = _dispatcher(store, config, clock)
    (x,) = store.deliveries(channel="x")
    assert x.status is DeliveryStatus.PENDING and x.due_at == NOW + timedelta(minutes=15)
    clock.now = NOW + timedelta(minutes=14)
    await dispatcher.run_once()
    assert sent["x"].sent == []
    clock.now = NOW + timedelta(minutes=15)
    await dispatcher.run_once()
    assert len(sent["x"].sent) == 1


async def test_a_post_held_within_its_approval_window_does_not_go(
        store: Store, config: Config) -> None:
    _article(store, config)
    clock = WallClock(NOW)
    dispatcher, sent = _dispatcher(store, config, clock)
    (x,) = store.deliveries(channel="x")
    editor.hold(store, x.id, now=NOW + timedelta(minutes=5))
    clock.now = NOW + timedelta(hours=2)
    await dispatcher.run_once()
    assert sent["x"].sent == []


async def test_approving_a_post_in_its_window_lets_it_go_at_once(
        store: Store, config: Config) -> None:
    _article(store, config)
    clock = WallClock(NOW)
    dispatcher, sent = _dispatcher(store, config, clock)
    (x,) = store.deliveries(channel="x")
    clock.now = NOW + timedelta(minutes=2)
    editor.approve(store, x.id, now=clock.now)
    await dispatcher.run_once()
    assert len(sent["x"].sent) == 1


async def test_an_edited_text_is_sent_instead_of_the_template(
        store: Store, config: Config) -> None:
    _article(store, config)
    clock = WallClock(NOW)
    dispatcher, sent = _dispatcher(store, config, clock)
    (tg,) = store.deliveries(channel="tg")
    editor.edit_text(config, store, tg.id, "<b>Dam</b> opens today", now=NOW)
    editor.approve(store, tg.id, now=NOW)
    await dispatcher.run_once()
    assert sent["tg"].sent == ["<b>Dam</b> opens today"]


def test_plan_and_queue_say_a_post_awaits_approval(store: Store, config: Config,
                                                   tmp_path: Path) -> None:
    _article(store, config)
    (tg_plan,) = [p for p in editor.plan(config, store, now=NOW) if p.channel == "tg"]
    assert [(p.at, p.why) for p in tg_plan.posts] == [(None, Why.APPROVAL)]
    (x_plan,) = [p for p in editor.plan(config, store, now=NOW) if p.channel == "x"]
    assert x_plan.posts[0].why is Why.APPROVAL
    assert x_plan.posts[0].at == NOW + timedelta(minutes=15)


def test_newsbot_queue_marks_posts_awaiting_approval_and_newsbot_approve_lets_them_go(
        tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "store: sqlite:///n.db\n" + CONFIG.replace("feed.xml", "feed.xml"), encoding="utf-8")
    config = parse_config((tmp_path / "config.yaml").read_text(), base_dir=tmp_path)
    from bot.store import open_store

    with open_store(config.store_url) as store:
        _article(store, config)
        (tg,) = store.deliveries(channel="tg")
    runner = CliRunner()
    args = ["--config", str(tmp_path / "config.yaml")]
    result = runner.invoke(cli, [*args, "queue"])
    assert result.exit_code == 0, result.output
    assert f"{tg.id:<7} tg               APPROVE?" in result.output
    result = runner.invoke(cli, [*args, "approve", str(tg.id)])
    assert result.exit_code == 0, result.output
    with open_store(config.store_url) as store:
        assert store.get_delivery(tg.id).status is DeliveryStatus.PENDING
        (action,) = store.actions(delivery_id=tg.id)
        assert action.editor.startswith("cli:")


async def test_a_dry_run_previews_the_editors_text_not_the_template(
        tmp_path: Path) -> None:
    import io

    from bot.operations import run_cycle
    from bot.store import open_store

    (tmp_path / "feed.xml").write_text("<rss version='2.0'><channel></channel></rss>")
    config = parse_config("store: sqlite:///n.db\n" + CONFIG.replace(
        ", approval: required", "").replace("    approval: {window: 15m}\n", ""),
        base_dir=tmp_path)
    with open_store(config.store_url) as store:
        article, _ = store.add_article(FeedItem(
            source_id="en", guid="g1", url="https://news.example.org/1", title="Dam opens",
            summary="The dam opened.", published=datetime.now(UTC)), now=datetime.now(UTC))
        store.create_deliveries(article.id, plan_article(article, config,
                                                         now=datetime.now(UTC)),
                                now=datetime.now(UTC))
        (tg,) = store.deliveries(channel="tg")
        editor.edit_text(config, store, tg.id, "<b>Edited</b> by the desk", now=NOW)
        out = io.StringIO()
        await run_cycle(config, store, dry_run=True, echo=out)
    assert "<b>Edited</b> by the desk" in out.getvalue()
