"""Alerts: each incident (a source failing for over an hour, a channel needing attention, X
spend past 80% of its budget, a failed digest run) is told once when it starts and once when
it ends; in the control chat through the local Bot API server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.desk.alerts import changes, tell
from bot.desk.control_chat import ControlChat
from bot.models import Receipt
from bot.store import Store, open_store
from tests import desk_kit as kit
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.smtp_server import RecordingHandler

GROUP = "-1001234567"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CONFIG = """\
store: sqlite:///newsbot.db
desk:
  enabled: true
  telegram: {{chat: {group}, token: "${{DESK_TG_TOKEN}}", api_url: "{api}", poll_timeout: 0s}}
  editors: [111]
sources: [{{id: en, url: feed.xml}}]
channels:
  x:
    type: x
    monthly_budget: 10
  digest:
    type: email
    from: "News <digest@news.example.org>"
    schedule: {{cron: "0 7 * * *"}}
"""


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    # Alerts come one after another here; Telegram's 1 message/s per chat is not the subject.
    with FakeTelegramAPI(flood_control=False) as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, telegram_api: FakeTelegramAPI,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Config, Store]]:
    monkeypatch.setenv("DESK_TG_TOKEN", TOKEN)
    (tmp_path / "feed.xml").write_text("<rss version='2.0'><channel></channel></rss>")
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(group=GROUP, api=telegram_api.base_url))
    config = load_config(path)
    store = open_store(config.store_url)
    yield config, store
    store.close()


def _fail(store: Store, at: datetime) -> None:
    store.record_poll_failure("en", now=at, error="HTTP 503 from the feed",
                              next_poll_at=at + timedelta(minutes=5))


async def test_a_source_failing_for_over_an_hour_is_told_once_and_again_when_it_recovers(
        project: tuple[Config, Store], telegram_api: FakeTelegramAPI) -> None:
    config, store = project
    store.record_poll_success("en", now=NOW, next_poll_at=NOW)
    assert config.desk.telegram is not None
    times = iter([NOW + timedelta(minutes=30), NOW + timedelta(minutes=61),
                  NOW + timedelta(minutes=90), NOW + timedelta(minutes=95)])
    current = [NOW]
    chat = ControlChat(config.desk.telegram, clock=lambda: current[0], pace=0)

    async def round_() -> None:
        current[0] = next(times)
        await chat.step(config, store)
        await tell(config, store, chat.say, now=current[0])

    try:
        _fail(store, NOW + timedelta(minutes=5))
        await round_()  # 30 minutes: not yet
        await round_()  # 61 minutes: told
        await round_()  # still failing: not told again
        store.record_poll_success("en", now=current[0], next_poll_at=current[0])
        await round_()  # recovered: told it ended
    finally:
        await chat.close()
    told = [m.text or "" for m in telegram_api.messages if m.chat == GROUP]
    assert len(told) == 2
    assert "Alert" in told[0] and "source en has been failing for over 61 minutes" in told[0]
    assert "HTTP 503" in told[0]
    assert "Resolved" in told[1] and "source en" in told[1]


def test_a_channel_needing_attention_x_spend_and_a_failed_digest_are_incidents(
        project: tuple[Config, Store]) -> None:
    config, store = project
    store.update_channel("x", now=NOW, attention="X refused the credentials (401)")
    article = kit.add_article(store, config, 1, now=NOW)
    (x,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "x"]
    store.mark_sent(x.id, Receipt("1"), now=NOW, cost=8.5)
    run = store.start_digest_run("digest", scheduled_for=NOW, now=NOW, max_articles=30)
    assert run is not None
    store.finish_digest_run(run, status="failed", now=NOW, error="relay refused AUTH")
    started = {c.key: c.text for c in changes(config, store, now=NOW) if c.started}
    assert set(started) == {"attention:x", "spend:x", "digest:digest"}
    assert "401" in started["attention:x"]
    assert "$8.50 of its $10.00 monthly budget (85%)" in started["spend:x"]
    assert "failed" in started["digest:digest"] and "relay refused AUTH" in started["digest:digest"]
    assert changes(config, store, now=NOW) == []  # told once
    store.update_channel("x", now=NOW, attention="")
    ended = changes(config, store, now=NOW)
    assert [(c.key, c.started) for c in ended] == [("attention:x", False)]


async def test_alerts_are_emailed_to_desk_alerts_email_through_the_digest_relay(
        tmp_path: Path, smtp_server: tuple[RecordingHandler, int]) -> None:
    handler, port = smtp_server
    (tmp_path / "feed.xml").write_text("<rss version='2.0'><channel></channel></rss>")
    path = tmp_path / "config.yaml"
    path.write_text(f"""\
store: sqlite:///newsbot.db
desk: {{enabled: true, alerts_email: desk@news.example.org}}
sources: [{{id: en, url: feed.xml}}]
channels:
  digest:
    type: email
    from: "News <digest@news.example.org>"
    smtp: {{host: 127.0.0.1, port: {port}, security: none}}
    schedule: {{cron: "0 7 * * *"}}
""")
    config = load_config(path)
    with open_store(config.store_url) as store:
        store.record_poll_success("en", now=NOW, next_poll_at=NOW)
        _fail(store, NOW)
        await tell(config, store, None, now=NOW + timedelta(hours=2))
        await tell(config, store, None, now=NOW + timedelta(hours=3))  # once per incident
    (mail,) = handler.received
    assert mail.rcpt_tos == ["desk@news.example.org"]
    assert "newsbot alert: source en has been failing" in str(mail.message["Subject"])
