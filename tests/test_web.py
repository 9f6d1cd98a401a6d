"""The readers' pages end to end: a digest received by a real SMTP server, its unsubscribe
link followed through the Starlette app; double opt-in through the confirmation email."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from bot.config import Config, Web
from bot.digest.commands import run_digest
from bot.digest.tokens import make_token, secret_of
from bot.store import Store
from bot.web.app import make_app
from bot.web.ratelimit import RateLimiter, client_key, parse_networks
from tests import smtp_server as kit
from tests.kit import WallClock
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
    kind, channel, sub, *rest = payload.split("\x1f")
    other = "\x1f".join((kind, channel, str(3 - int(sub)), *rest)).encode()
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
    confirm_token = make_token(secret_of(config), "confirm", "digest", sub.id,
                               salt=sub.token_salt)
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


# -- the subscribe form cannot be turned on someone's inbox ------------------------------


def _limited(config: Config, **web: object) -> Config:
    return config.model_copy(update={"web": Web.model_validate(web)})


def _subscribe(client: TestClient, email: str, forwarded: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    response: httpx.Response = client.post("/subscribe/digest", data={"email": email},
                                           headers=headers)
    return response


def test_same_address_five_times_gets_one_email_and_the_same_answer_every_time(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    config = kit.make_config(tmp_path, port)
    (reader,) = add_subscribers(digest_store, 1)  # already active: gets no email at all
    app = make_app(config, digest_store)
    client = TestClient(app)
    answers = [client.post("/subscribe/digest", data={"email": "victim@example.com"})
               for _ in range(5)]
    assert handler.by_recipient() == {"victim@example.com": 1}
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1 and "Check your inbox" in answers[0].text
    other = TestClient(app, client=("192.0.2.44", 50000))  # the first has used its 5 posts
    active = other.post("/subscribe/digest", data={"email": reader})
    assert handler.by_recipient() == {"victim@example.com": 1}
    assert (active.status_code, active.text.replace(reader, "victim@example.com")) == (
        200, answers[0].text)  # an existing subscriber cannot be told apart


def test_a_second_confirmation_goes_only_after_the_cooldown(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    clock = WallClock(datetime.now(UTC))
    client = TestClient(make_app(kit.make_config(tmp_path, port), digest_store, clock=clock))
    _subscribe(client, "late@example.com")
    clock.advance(minutes=9, seconds=59)
    _subscribe(client, "late@example.com")
    assert handler.by_recipient() == {"late@example.com": 1}
    clock.advance(seconds=1)  # ten minutes, the default cooldown
    _subscribe(client, "late@example.com")
    assert handler.by_recipient() == {"late@example.com": 2}
    _subscribe(client, "late@example.com")
    assert handler.by_recipient() == {"late@example.com": 2}


def test_at_most_three_confirmations_a_day_to_one_address(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    clock = WallClock(datetime.now(UTC))
    client = TestClient(make_app(kit.make_config(tmp_path, port), digest_store, clock=clock))
    for _ in range(6):  # every 11 minutes: never in the cooldown, always within the day
        _subscribe(client, "daily@example.com")
        clock.advance(minutes=11)
    assert handler.by_recipient() == {"daily@example.com": 3}
    clock.advance(hours=23)  # a day after the first
    _subscribe(client, "daily@example.com")
    assert handler.by_recipient() == {"daily@example.com": 4}


def test_the_cooldown_holds_across_app_instances_sharing_the_store(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    """Two workers (or a restart): the count is in the store, not in the process."""
    handler, port = smtp_server
    config = kit.make_config(tmp_path, port)
    _subscribe(TestClient(make_app(config, digest_store)), "twice@example.com")
    _subscribe(TestClient(make_app(config, digest_store)), "twice@example.com")
    assert handler.by_recipient() == {"twice@example.com": 1}


def test_a_failed_send_does_not_start_the_cooldown(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    client = TestClient(make_app(kit.make_config(tmp_path, port), digest_store))
    handler.data_answers.append("451 4.3.0 try again later")
    first = _subscribe(client, "retry@example.com")
    assert handler.received == []
    second = _subscribe(client, "retry@example.com")  # at once: nothing was sent before
    assert handler.by_recipient() == {"retry@example.com": 1}
    assert (first.status_code, first.text) == (second.status_code, second.text)


def test_a_client_over_the_limit_gets_429_with_retry_after_and_nothing_is_sent(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    clock = WallClock(datetime.now(UTC))
    client = TestClient(make_app(kit.make_config(tmp_path, port), digest_store, clock=clock))
    for n in range(5):
        assert client.post("/subscribe/digest", data={"email": f"a{n}@example.com"}
                           ).status_code == 200
    clock.advance(minutes=4)
    refused = client.post("/subscribe/digest", data={"email": "a5@example.com"})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "360"  # the first of the five leaves the window
    assert "try again in 6 minutes" in refused.text
    assert refused.headers["cache-control"] == "no-store"
    assert len(handler.received) == 5
    assert digest_store.get_subscriber("digest", "a5@example.com") is None
    clock.advance(seconds=360)
    assert client.post("/subscribe/digest", data={"email": "a5@example.com"}
                       ).status_code == 200
    assert len(handler.received) == 6


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    config = _limited(kit.make_config(tmp_path, port), trusted_proxies=["10.0.0.0/8"],
                      subscribe_limit={"per_client": 2})
    client = TestClient(make_app(config, digest_store), client=("10.1.2.3", 40000))
    assert _subscribe(client, "p1@example.com", "203.0.113.5").status_code == 200
    assert _subscribe(client, "p2@example.com", "203.0.113.5").status_code == 200
    assert _subscribe(client, "p3@example.com", "203.0.113.5").status_code == 429
    # What the client itself wrote to the left of the proxy's entry changes nothing.
    assert _subscribe(client, "p3@example.com",
                      "198.51.100.1, 203.0.113.5").status_code == 429
    assert _subscribe(client, "p3@example.com", "203.0.113.6").status_code == 200
    assert sorted(handler.by_recipient()) == ["p1@example.com", "p2@example.com",
                                              "p3@example.com"]


def test_an_untrusted_peers_forwarded_for_is_ignored(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    config = _limited(kit.make_config(tmp_path, port), trusted_proxies=["10.0.0.0/8"],
                      subscribe_limit={"per_client": 2})
    client = TestClient(make_app(config, digest_store), client=("198.51.100.7", 40000))
    codes = [_subscribe(client, f"u{n}@example.com", f"203.0.113.{n}").status_code
             for n in range(4)]  # a new X-Forwarded-For every time
    assert codes == [200, 200, 429, 429]
    assert len(handler.received) == 2


def test_the_limiter_forgets_idle_clients_and_stays_bounded_under_a_flood() -> None:
    limiter = RateLimiter(2, 60.0, max_keys=100)
    for n in range(5_000):
        limiter.hit(f"10.0.{n // 256}.{n % 256}", 1000.0)
    assert len(limiter) == 100
    assert limiter.hit("192.0.2.1", 1000.0) == 0.0
    assert limiter.hit("192.0.2.1", 1010.0) == 0.0
    assert limiter.hit("192.0.2.1", 1020.0) == 40.0  # the first hit leaves the window at 1060
    assert limiter.hit("192.0.2.9", 1061.0) == 0.0
    assert len(limiter) == 2  # everyone idle for a whole window is gone


def test_client_key_walks_forwarded_for_from_the_proxy_side() -> None:
    proxies = parse_networks(["10.0.0.0/8", "192.168.1.1"])
    assert client_key("10.0.0.1", ["6.6.6.6, 203.0.113.9, 192.168.1.1"], proxies) == (
        "203.0.113.9")
    assert client_key("10.0.0.1", ["6.6.6.6", "203.0.113.9"], proxies) == "203.0.113.9"
    assert client_key("10.0.0.1", ["not-an-address"], proxies) == "10.0.0.1"
    assert client_key("203.0.113.9", ["6.6.6.6"], proxies) == "203.0.113.9"
    assert client_key("203.0.113.9", ["6.6.6.6"], ()) == "203.0.113.9"
    # One IPv6 subscriber line is a /64: changing address within it does not reset the count.
    assert client_key("2001:db8:1:2::5", [], ()) == client_key("2001:db8:1:2::ffff", [], ())
