"""Every page the bot serves carries a Content-Security-Policy, nosniff and a Referrer-Policy;
``/healthz`` tells the world only whether the bot works, and the detail only to this machine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.config import parse_config
from bot.scheduler import Service
from bot.store import Store
from bot.web.app import make_app
from bot.web.health import health_app
from tests.smtp_server import make_config

PAGES = ("/subscribe/digest", "/confirm/not-a-token", "/unsubscribe/not-a-token", "/healthz",
         "/metrics", "/no-such-page")
LOCAL = ("127.0.0.1", 41000)
HEALTH_CONFIG = """
timezone: UTC
sources: [{id: en, url: feed.xml}]
channels:
  tg: {type: telegram, chat: "@c", token: x}
"""


def assert_guarded(headers: object, path: str) -> None:
    from httpx import Headers

    assert isinstance(headers, Headers)
    policy = headers.get("content-security-policy", "")
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'",
                      "form-action 'self'", "base-uri 'none'"):
        assert directive in policy, (path, policy)
    assert headers.get("x-content-type-options") == "nosniff", path
    assert headers.get("referrer-policy") == "no-referrer", path


def test_every_readers_page_sends_a_content_security_policy(
        tmp_path: Path, sqlite_store: Store) -> None:
    client = TestClient(make_app(make_config(tmp_path), sqlite_store, get_service=lambda: None))
    for path in PAGES:
        assert_guarded(client.get(path).headers, path)


def test_the_health_only_app_sends_them_too() -> None:
    client = TestClient(health_app(lambda: None))
    for path in ("/healthz", "/metrics"):
        assert_guarded(client.get(path).headers, path)


# ---------------------------------------------------------------- /healthz: who sees what


@pytest.fixture
def service(sqlite_store: Store, tmp_path: Path) -> Service:
    config = parse_config(HEALTH_CONFIG, base_dir=tmp_path)
    made = Service(tmp_path / "config.yaml", config, sqlite_store, worker="newsroom-db-3:4242")
    made.last_tick = datetime.now(UTC)
    sqlite_store.update_channel("tg", now=datetime.now(UTC), paused=True,
                                attention="Forbidden: bot was kicked from the channel chat")
    return made


def client(service: Service, peer: tuple[str, int] = ("testclient", 50000)) -> TestClient:
    return TestClient(health_app(lambda: service), client=peer)


def healthz(service: Service) -> tuple[int, dict[str, object], str]:
    """/healthz as someone elsewhere sees it (the test client's peer is not an address)."""
    response = client(service).get("/healthz")
    return response.status_code, response.json(), response.text


def test_anyone_sees_only_whether_the_bot_works(service: Service) -> None:
    status, body, text = healthz(service)
    assert status == 200
    assert body["status"] == "ok"
    assert body["store"] == {"ok": True} and body["scheduler"] == {"alive": True}
    assert "newsroom-db-3" not in text and "4242" not in text
    assert "kicked" not in text and "channels" not in body and "worker" not in body


def test_a_request_relayed_by_a_proxy_on_this_machine_is_not_local(service: Service) -> None:
    response = client(service, LOCAL).get("/healthz",
                                          headers={"X-Forwarded-For": "203.0.113.9"})
    assert "worker" not in response.json() and "kicked" not in response.text


def test_a_proxy_on_this_machine_named_in_trusted_proxies_is_not_local_even_without_headers(
        tmp_path: Path, sqlite_store: Store) -> None:
    # nginx's proxy_pass adds no X-Forwarded-For unless told to: the operator's
    # web.trusted_proxies is what says the loopback peer relays the world.
    config = parse_config(HEALTH_CONFIG + "web: {trusted_proxies: [127.0.0.1]}\n",
                          base_dir=tmp_path)
    relayed = Service(tmp_path / "config.yaml", config, sqlite_store, worker="newsroom-db-3:4242")
    relayed.last_tick = datetime.now(UTC)
    response = client(relayed, LOCAL).get("/healthz")
    assert response.status_code == 200
    assert "worker" not in response.json() and "newsroom-db-3" not in response.text


def test_this_machine_sees_the_worker_and_each_channels_state(service: Service) -> None:
    body = client(service, LOCAL).get("/healthz").json()
    assert body["worker"] == "newsroom-db-3:4242"
    assert body["channels"]["tg"]["attention"] == \
        "Forbidden: bot was kicked from the channel chat"


def test_an_unhealthy_bot_is_503_for_anyone_without_saying_why(service: Service) -> None:
    service.last_tick = None
    status, body, _ = healthz(service)
    assert status == 503 and body["status"] == "unhealthy" and "problems" not in body
