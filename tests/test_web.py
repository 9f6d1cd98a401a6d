"""The readers' pages end to end: a digest received by a real SMTP server, its unsubscribe
link followed through the Starlette app; double opt-in through the confirmation email."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from bot.config import Config
from bot.digest.commands import run_digest
from bot.digest.tokens import make_token, secret_of
from bot.store import Store
from bot.web.app import make_app
from tests import smtp_server as kit
from tests.smtp_server import RUN_AT, RecordingHandler, add_article, add_subscribers

digest_store = kit.digest_store  # fixtures
smtp_server = kit.smtp_server
Server = tuple[RecordingHandler, int]


def _unsubscribe_path(handler: RecordingHandler) -> str:
    header = str(handler.received[-1].message["List-Unsubscribe"])
    url = re.search(r"<(https://[^>]+)>", header)
    assert url is not None
    return urlsplit(url[1]).path.removeprefix("/bot")


@pytest.fixture
def sent_digest(tmp_path: Path, digest_store: Store,
                smtp_server: Server) -> tuple[Config, Store, RecordingHandler]:
    handler, port = smtp_server
    config = kit.make_config(tmp_path, port)
    add_article(digest_store, 1)
    add_subscribers(digest_store, 2)
    asyncio.run(run_digest(config, digest_store, "digest", RUN_AT))
    return config, digest_store, handler


def _status(store: Store, email: str) -> str:
    sub = store.get_subscriber("digest", email)
    assert sub is not None
    return sub.status


def test_get_on_unsubscribe_link_shows_a_button_and_changes_nothing(
        sent_digest: tuple[Config, Store, RecordingHandler]) -> None:
    config, store, handler = sent_digest
    path = _unsubscribe_path(handler)
    reader = str(handler.received[-1].message["To"])
    client = TestClient(make_app(config, store))
    response = client.get(path)
    assert response.status_code == 200
    assert "<button" in response.text and 'method="post"' in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    assert _status(store, reader) == "active"


def test_one_click_post_unsubscribes_without_cookies(
        sent_digest: tuple[Config, Store, RecordingHandler]) -> None:
    config, store, handler = sent_digest
    path = _unsubscribe_path(handler)
    reader = str(handler.received[-1].message["To"])
    others = {str(r.message["To"]) for r in handler.received} - {reader}
    client = TestClient(make_app(config, store))
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "Unsubscribed" in response.text
    assert "set-cookie" not in response.headers
    assert _status(store, reader) == "unsubscribed"
    assert all(_status(store, other) == "active" for other in others)


def test_unsubscribed_reader_gets_no_further_digest(
        sent_digest: tuple[Config, Store, RecordingHandler]) -> None:
    config, store, handler = sent_digest
    reader = str(handler.received[-1].message["To"])
    TestClient(make_app(config, store)).post(_unsubscribe_path(handler))
    add_article(store, 2, published=RUN_AT + timedelta(hours=1))
    before = len(handler.received)
    asyncio.run(run_digest(config, store, "digest", RUN_AT + timedelta(days=1)))
    assert [str(r.message["To"]) for r in handler.received[before:]] != []
    assert reader not in [str(r.message["To"]) for r in handler.received[before:]]


def _other_subscriber(token: str) -> str:
    body, _, sig = token.partition(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    kind, channel, sub, issued = payload.split("\x1f")
    other = "\x1f".join((kind, channel, str(3 - int(sub)), issued)).encode()
    return base64.urlsafe_b64encode(other).rstrip(b"=").decode() + "." + sig


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
    lambda t: _other_subscriber(t),  # another subscriber's id, same signature
    lambda t: "garbage",
])
def test_tampered_token_changes_nothing_and_says_so(
        sent_digest: tuple[Config, Store, RecordingHandler], tamper: object) -> None:
    config, store, handler = sent_digest
    path = _unsubscribe_path(handler)
    token = path.rsplit("/", 1)[1]
    bad = "/unsubscribe/" + tamper(token)  # type: ignore[operator]
    client = TestClient(make_app(config, store))
    for response in (client.get(bad), client.post(bad)):
        assert response.status_code == 400
        assert "Nothing was changed" in response.text
    assert {s.status for s in store.iter_subscribers("digest")} == {"active"}


def test_token_of_another_kind_does_nothing(
        sent_digest: tuple[Config, Store, RecordingHandler]) -> None:
    config, store, _ = sent_digest
    sub = store.get_subscriber("digest", "reader0@example.com")
    assert sub is not None
    confirm_token = make_token(secret_of(config), "confirm", "digest", sub.id)
    response = TestClient(make_app(config, store)).post(f"/unsubscribe/{confirm_token}")
    assert response.status_code == 400 and _status(store, "reader0@example.com") == "active"


def test_double_opt_in(tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    config = kit.make_config(tmp_path, port)
    client = TestClient(make_app(config, digest_store))
    assert "<form" in client.get("/subscribe/digest").text
    assert client.post("/subscribe/digest", data={"email": "nope"}).status_code == 400
    response = client.post("/subscribe/digest", data={"email": "New.Reader@Example.com"})
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert _status(digest_store, "new.reader@example.com") == "pending"
    (mail,) = handler.received
    assert mail.rcpt_tos == ["new.reader@example.com"]
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https://\S+/confirm/\S+", text)
    assert link is not None
    path = urlsplit(link[0]).path.removeprefix("/bot")
    assert "<button" in client.get(path).text
    assert _status(digest_store, "new.reader@example.com") == "pending"  # GET changes nothing
    assert "Subscribed" in client.post(path).text
    assert _status(digest_store, "new.reader@example.com") == "active"


def test_unknown_digest_is_404(tmp_path: Path, digest_store: Store) -> None:
    client = TestClient(make_app(kit.make_config(tmp_path), digest_store))
    assert client.get("/subscribe/nothing").status_code == 404
