"""`newsbot check --online` asks each platform (the local fakes here) without posting, and
`newsbot run` makes the same checks at start-up, holding a channel the platform refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.config import load_config
from bot.models import DeliveryStatus, FeedItem
from bot.plan import plan_article
from bot.scheduler import Service
from bot.store import open_store
from tests.fakes import telegram_api as fake_api
from tests.fakes.telegram_api import BOT_USERNAME, TOKEN, FakeTelegramAPI
from tests.fakes.x_api import ACCOUNT_USERNAME, FakeXApi
from tests.smtp_server import TlsServer

telegram_api = fake_api.telegram_api


def write_config(tmp_path: Path, channels: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"""
timezone: UTC
store: sqlite:///bot.db
web: {{enabled: false}}
sources: [{{id: en, url: feed.xml}}]
channels:
{channels}""", encoding="utf-8")
    return path


def telegram(api: FakeTelegramAPI, token: str = TOKEN, chat: str = "@newsroom") -> str:
    return f"""  tg:
    type: telegram
    token: "{token}"
    chat: "{chat}"
    api_url: {api.base_url}
    photo: never
"""


def x_channel(api: FakeXApi, **overrides: Any) -> str:
    settings = api.channel_settings(**overrides)
    return "  x:\n" + "".join(f"    {k}: \"{v}\"\n" if isinstance(v, str) else f"    {k}: {v}\n"
                              for k, v in settings.items())


def check_online(path: Path) -> Result:
    return CliRunner().invoke(cli, ["--config", str(path), "check", "--online"])


def test_a_working_token_and_admin_bot_is_ok(tmp_path: Path,
                                             telegram_api: FakeTelegramAPI) -> None:
    result = check_online(write_config(tmp_path, telegram(telegram_api)))
    assert result.exit_code == 0, result.output
    assert f"✓ tg: ok: @{BOT_USERNAME} is an admin of @newsroom" in result.output
    assert telegram_api.messages == []  # nothing posted


def test_a_wrong_token_is_reported_with_what_to_do_and_never_shown(
        tmp_path: Path, telegram_api: FakeTelegramAPI) -> None:
    wrong = "987654321:AAWrongTokenForTheCheckTest_zyxwvutsr"
    result = check_online(write_config(tmp_path, telegram(telegram_api, token=wrong)))
    assert result.exit_code == 1
    assert "✗ tg: Telegram refused the token" in result.output
    assert "@BotFather" in result.output
    assert wrong not in result.output and wrong.split(":")[1] not in result.output


def test_a_bot_that_is_not_an_admin_of_the_channel_is_reported(
        tmp_path: Path, telegram_api: FakeTelegramAPI) -> None:
    telegram_api.set_bot_status("@newsroom", "member")
    result = check_online(write_config(tmp_path, telegram(telegram_api)))
    assert result.exit_code == 1
    assert "✗ tg: @newsbot_test_bot is 'member' in @newsroom, not an admin" in result.output


def test_a_chat_that_does_not_exist_is_reported(tmp_path: Path,
                                                telegram_api: FakeTelegramAPI) -> None:
    telegram_api.unknown_chats.add("@nosuch")
    result = check_online(write_config(tmp_path, telegram(telegram_api, chat="@nosuch")))
    assert result.exit_code == 1
    assert "✗ tg: chat @nosuch: Chat not found" in result.output


def test_x_keys_are_checked_against_users_me(tmp_path: Path, x_api: FakeXApi) -> None:
    good = check_online(write_config(tmp_path, x_channel(x_api)))
    assert good.exit_code == 0, good.output
    assert f"✓ x: ok: the keys belong to @{ACCOUNT_USERNAME}" in good.output
    assert x_api.tweets == []
    bad = check_online(write_config(tmp_path, x_channel(x_api, api_secret="not-the-secret")))
    assert bad.exit_code == 1
    assert "✗ x: X refused the credentials" in bad.output and "X_* keys" in bad.output
    assert "not-the-secret" not in bad.output


def digest(server: TlsServer, **smtp: Any) -> str:
    return f"""  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    smtp: {server.smtp("starttls", **smtp)}
    schedule: {{cron: "0 7 * * *"}}
"""


def test_smtp_connects_starttls_and_logs_in_without_sending(
        tmp_path: Path, starttls_server: TlsServer) -> None:
    good = check_online(write_config(tmp_path, digest(starttls_server)))
    assert good.exit_code == 0, good.output
    assert (f"✓ digest: ok: 127.0.0.1:{starttls_server.port} answered (STARTTLS, AUTH "
            "accepted); nothing was sent") in good.output
    bad = check_online(write_config(tmp_path, digest(starttls_server, password="wrong")))
    assert bad.exit_code == 1
    assert "refused the login" in bad.output and "SMTP_PASSWORD" in bad.output
    assert starttls_server.handler.received == []


async def test_run_holds_a_channel_whose_start_up_check_fails_and_keeps_its_posts(
        tmp_path: Path, telegram_api: FakeTelegramAPI) -> None:
    wrong = "987654321:AAWrongTokenForTheCheckTest_zyxwvutsr"
    path = write_config(tmp_path, telegram(telegram_api, token=wrong))
    config = load_config(path)
    store = open_store(config.store_url)
    now = datetime.now(UTC)
    article, _ = store.add_article(FeedItem(
        source_id="en", guid="g", url="https://news.example.org/1", title="T",
        summary="S.", published=now), now=now)
    store.create_deliveries(article.id, plan_article(article, config, now=now), now=now)
    svc = Service(path, config, store, worker="w-1")
    await svc.start()
    try:
        assert svc.scheduler is not None
        svc.scheduler.pause()
        await svc.dispatch_tick()
        (delivery,) = svc.store.deliveries()
        assert delivery.status is DeliveryStatus.PENDING  # not failed
        view = svc.views()["tg"]
        assert view.mode == "needs attention"
        assert "start-up check failed: Telegram refused the token" in view.why
    finally:
        await svc.stop()
        svc.store.close()


@pytest.fixture(autouse=True)
def _fast_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.channels.online.CHECK_TIMEOUT", 10.0)
