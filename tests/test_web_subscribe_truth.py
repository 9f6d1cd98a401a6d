"""The subscribe and confirm pages refuse what they cannot honour and say what is true
(issue 11, item 8): an address that headers would turn into another one is refused with
nothing stored or used up, and an old confirmation link never claims "Subscribed" for a
reader who has left."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from click.testing import CliRunner
from starlette.testclient import TestClient

from bot.cli import cli
from bot.store import Store
from bot.web.app import make_app
from tests import smtp_server as kit
from tests.kit import WallClock
from tests.smtp_server import RecordingHandler

digest_store = kit.digest_store
smtp_server = kit.smtp_server
Server = tuple[RecordingHandler, int]

ENCODED = "=?utf-8?q?evil=40attacker.example?=@example.com"


def test_an_address_headers_would_decode_into_another_is_refused_and_nothing_kept(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    client = TestClient(make_app(kit.make_config(tmp_path, port), digest_store))
    response = client.post("/subscribe/digest", data={"email": ENCODED})
    assert response.status_code == 400
    assert "does not look like an email address we can write to" in response.text
    assert list(digest_store.iter_subscribers("digest")) == []
    assert handler.received == []
    # Nothing was used up either: a real address from the same form works at once.
    ok = client.post("/subscribe/digest", data={"email": "reader@example.com"})
    assert ok.status_code == 200 and len(handler.received) == 1


def test_editors_cannot_add_such_an_address_either(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"""
store: "sqlite:///{tmp_path / 'newsbot.db'}"
secret_key: {kit.SECRET}
sources: [{{id: en, url: feed.xml}}]
channels:
  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    smtp: {{host: 127.0.0.1, port: 2525, security: none}}
    schedule: {{cron: "0 7 * * *"}}
""")
    result = CliRunner().invoke(cli, ["--config", str(config), "subscribers", "add", "digest",
                                      ENCODED])
    assert result.exit_code == 2
    assert "would read it as a different address" in result.output


def _confirm_path(handler: RecordingHandler) -> str:
    text = handler.received[-1].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https://\S+/confirm/\S+", text)
    assert link is not None
    return urlsplit(link[0]).path.removeprefix("/bot")


def test_an_old_confirmation_link_after_unsubscribing_says_so_and_changes_nothing(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    clock = WallClock(datetime.now(UTC))
    client = TestClient(make_app(kit.make_config(tmp_path, port), digest_store, clock=clock))
    client.post("/subscribe/digest", data={"email": "reader@example.com"})
    old_link = _confirm_path(handler)
    assert "Subscribed" in client.post(old_link).text
    sub = digest_store.get_subscriber("digest", "reader@example.com")
    assert sub is not None and sub.status == "active"

    clock.now += timedelta(minutes=5)
    digest_store.unsubscribe(sub.id, now=clock.now)
    for response in (client.get(old_link), client.post(old_link)):
        assert response.status_code == 409
        assert "Not subscribed" in response.text and "Subscribed</" not in response.text
        assert "unsubscribed after this link was sent" in response.text
    assert digest_store.get_subscriber_by_id(sub.id).status == "unsubscribed"  # type: ignore[union-attr]

    # Asking again from the form sends a new link; the old one still does not subscribe.
    clock.now += timedelta(hours=1)
    client.post("/subscribe/digest", data={"email": "reader@example.com"})
    assert client.post(old_link).status_code == 409
    assert digest_store.get_subscriber_by_id(sub.id).status == "pending"  # type: ignore[union-attr]
    assert "Subscribed" in client.post(_confirm_path(handler)).text
    assert digest_store.get_subscriber_by_id(sub.id).status == "active"  # type: ignore[union-attr]
