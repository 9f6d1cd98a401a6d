"""``/metrics`` names the sources and channels: it answers the bot's own machine (the same rule
as ``/healthz``'s detail), and elsewhere only a scraper showing the operator's bearer token,
which never appears in a log or in ``newsbot check``."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from bot import metrics
from bot.cli import cli
from bot.config import parse_config
from bot.scheduler import Service
from bot.store import Store
from bot.web.app import make_app

TOKEN = "scrape-7f3c9e1b2d4a6f80-zq93"
LOCAL = ("127.0.0.1", 41000)
REMOTE = ("203.0.113.9", 41000)
CONFIG = """
timezone: UTC
secret_key: test-secret-key-for-metrics-access
sources: [{id: secret-desk-feed, url: feed.xml}]
channels:
  tg: {type: telegram, chat: "@c", token: x}
"""


def service(store: Store, tmp_path: Path, extra: str = "") -> Service:
    made = Service(tmp_path / "config.yaml", parse_config(CONFIG + extra, base_dir=tmp_path),
                   store, worker="w-test")
    made.last_tick = datetime.now(UTC)
    return made


def scrape(bot: Service, store: Store, peer: tuple[str, int],
           headers: dict[str, str] | None = None) -> httpx.Response:
    """GET /metrics from ``peer`` on the real app (built now, so it reads the environment)."""
    metrics.ARTICLES_INGESTED.labels("secret-desk-feed").inc(0)  # the source is named
    app = make_app(bot.config, store, get_service=lambda: bot)
    return TestClient(app, client=peer).get("/metrics", headers=headers or {})


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "newsbot_" not in response.text and "secret-desk-feed" not in response.text


def test_this_machine_scrapes_as_before(sqlite_store: Store, tmp_path: Path) -> None:
    response = scrape(service(sqlite_store, tmp_path), sqlite_store, LOCAL)
    assert response.status_code == 200
    assert 'newsbot_articles_ingested_total{source="secret-desk-feed"}' in response.text


def test_elsewhere_without_the_right_token_is_refused_alike_whether_one_is_set(
        sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = service(sqlite_store, tmp_path)
    attempts: list[dict[str, str]] = [{}, {"Authorization": f"Bearer {TOKEN[:-1]}x"},
                                      {"Authorization": f"Basic {TOKEN}"},
                                      {"Authorization": "Bearer "}]
    unset = [scrape(bot, sqlite_store, REMOTE, headers) for headers in attempts]
    monkeypatch.setenv("NEWSBOT_METRICS_TOKEN", TOKEN)
    set_ = [scrape(bot, sqlite_store, REMOTE, headers) for headers in attempts]
    for response in unset + set_:
        assert_refused(response)
    # The same answer either way: a prober cannot tell whether a token is configured.
    assert {(r.text, r.headers["www-authenticate"]) for r in unset + set_} == {
        (unset[0].text, unset[0].headers["www-authenticate"])}


def test_elsewhere_with_the_right_token_scrapes(
        sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_METRICS_TOKEN", TOKEN + "\n")  # as `cat token-file` gives it
    bot = service(sqlite_store, tmp_path)
    response = scrape(bot, sqlite_store, REMOTE, {"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200
    assert 'newsbot_articles_ingested_total{source="secret-desk-feed"}' in response.text


def test_a_short_token_is_not_accepted(
        sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_METRICS_TOKEN", "guessable")
    bot = service(sqlite_store, tmp_path)
    assert_refused(scrape(bot, sqlite_store, REMOTE, {"Authorization": "Bearer guessable"}))


def test_a_request_a_proxy_on_this_machine_relays_counts_as_elsewhere(
        sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_METRICS_TOKEN", TOKEN)
    bot = service(sqlite_store, tmp_path)
    assert_refused(scrape(bot, sqlite_store, LOCAL, {"X-Forwarded-For": "198.51.100.4"}))
    # nginx's proxy_pass adds no header unless told to: web.trusted_proxies says it relays.
    behind = service(sqlite_store, tmp_path, "web: {trusted_proxies: [127.0.0.1]}\n")
    assert_refused(scrape(behind, sqlite_store, LOCAL))
    relayed = scrape(behind, sqlite_store, LOCAL, {"Authorization": f"Bearer {TOKEN}"})
    assert relayed.status_code == 200 and "secret-desk-feed" in relayed.text


async def test_the_token_never_reaches_the_log(
        sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from bot.web.server import start_pages

    monkeypatch.setenv("NEWSBOT_METRICS_TOKEN", TOKEN)
    bot = service(sqlite_store, tmp_path, "web: {port: 0}\n")
    with caplog.at_level(logging.DEBUG):
        server, task = start_pages(bot.config, sqlite_store, lambda: bot,
                                   config_path=tmp_path / "config.yaml")
        # Whatever logs a request's headers later (a debugging aid, a bug) is scrubbed too.
        logging.getLogger("newsbot.web").warning("headers: Authorization: Bearer %s", TOKEN)
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    assert "elsewhere with the bearer token in NEWSBOT_METRICS_TOKEN" in caplog.text
    assert "Authorization: Bearer [REDACTED]" in caplog.text
    assert "zq93" not in caplog.text


@pytest.mark.parametrize(("value", "expected"), [
    ("", "/metrics: this machine only (export NEWSBOT_METRICS_TOKEN"),
    (TOKEN, "/metrics: this machine, and elsewhere with the bearer token in "
            "NEWSBOT_METRICS_TOKEN"),
    ("short-zq93", "NEWSBOT_METRICS_TOKEN is shorter than 16 characters, so it is not accepted"),
])
def test_check_says_how_metrics_are_reachable_without_the_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("NEWSBOT_METRICS_TOKEN", value)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 0, result.output
    assert "web: http://127.0.0.1:8080" in result.output
    assert expected in result.output
    assert "zq93" not in result.output
