"""The Bluesky channel against a local PDS-compatible server: the post, its card, the session,
and what each answer from the PDS becomes."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.channels.bluesky import BlueskySender
from bot.channels.bluesky_platform import BlueskyChannel
from bot.errors import (
    AuthError,
    ChannelError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UnknownOutcomeError,
)
from bot.models import RenderedPost
from tests.fakes import bluesky_api as fake
from tests.fakes.bluesky_api import APP_PASSWORD, DID, HANDLE, FakeBlueskyPds
from tests.feed_server import LOOPBACK_ALLOWED
from tests.images import png

bluesky_api = fake.bluesky_api_fixture  # the fixture: a fresh server per test

CREATE = "com.atproto.repo.createRecord"
SESSION = "com.atproto.server.createSession"
REFRESH = "com.atproto.server.refreshSession"
UPLOAD = "com.atproto.repo.uploadBlob"
LINK = "https://news.example.org/en/2026/11/tigris"
TEXT = "Baghdad opens a second water plant on the Tigris\n\nIt took three years.\n\n#Baghdad"

SenderFactory = Callable[..., BlueskySender]


@pytest.fixture
async def make_sender(bluesky_api: FakeBlueskyPds) -> AsyncIterator[SenderFactory]:
    made: list[BlueskySender] = []

    def make(langs: tuple[str, ...] = ("en",), **overrides: Any) -> BlueskySender:
        cfg = BlueskyChannel(**bluesky_api.channel_settings(**overrides))
        sender = BlueskySender("bsky-test", cfg, langs=langs, url_policy=LOOPBACK_ALLOWED)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.close()


def post(text: str = TEXT, **kw: Any) -> RenderedPost:
    return RenderedPost(channel="bsky-test", article_id=1, text=text, **kw)


async def test_post_with_a_link_shows_a_card_with_the_uploaded_thumbnail(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    image = bluesky_api.add_image("plant.png", png(120, 63))

    receipt = await make_sender().send(post(link=LINK, image_url=image, image_alt="The plant"))

    [sent] = bluesky_api.posts
    card = sent.card
    assert card is not None
    assert card["uri"] == LINK
    assert card["title"] == "Baghdad opens a second water plant on the Tigris"
    assert card["description"] == "It took three years."
    blob = bluesky_api.blobs[card["thumb"]["ref"]["$link"]]
    assert blob.data == png(120, 63) and blob.mime_type == "image/png"
    assert sent.record["langs"] == ["en"]
    assert sent.faceted() == [("#Baghdad", "Baghdad")]
    assert receipt.platform_id == sent.uri
    assert receipt.url == f"https://bsky.app/profile/{DID}/post/{sent.uri.rsplit('/', 1)[1]}"
    assert receipt.note == ""


async def test_a_thumbnail_over_the_blob_limit_is_left_out_and_the_card_kept(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * 1_000_001
    image = bluesky_api.add_image("huge.png", big)
    receipt = await make_sender().send(post(link=LINK, image_url=image))

    [sent] = bluesky_api.posts
    assert sent.card is not None and "thumb" not in sent.card
    assert "over Bluesky's 1000000 byte limit" in receipt.note
    assert bluesky_api.count(UPLOAD) == 0


async def test_a_thumbnail_that_is_not_an_image_is_left_out(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    page = bluesky_api.add_image("page.png", b"<html>not a picture</html>", "image/png")

    receipt = await make_sender().send(post(link=LINK, image_url=page))

    assert bluesky_api.posts[0].card is not None and "thumb" not in bluesky_api.posts[0].card
    assert "not a JPEG, PNG, WebP or GIF" in receipt.note


async def test_the_front_matter_langs_are_the_posts_and_are_not_posted(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    sender = make_sender(langs=("en",))

    await sender.send(post("---\nlangs: ar\n---\nافتتاح محطة مياه #بغداد"))
    await sender.send(post("---\nlangs: English\n---\nNo usable language here"))

    first, second = bluesky_api.posts
    assert first.text == "افتتاح محطة مياه #بغداد"
    assert first.record["langs"] == ["ar"] and first.faceted() == [("#بغداد", "بغداد")]
    assert second.record["langs"] == ["en"]  # the channel's


async def test_the_session_is_made_once_and_reused_across_posts(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    sender = make_sender()
    for n in range(3):
        await sender.send(post(f"Post number {n}"))

    assert bluesky_api.count(SESSION) == 1
    assert bluesky_api.count(CREATE, 200) == 3


async def test_an_expired_access_token_is_refreshed_and_the_post_sent_once(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    sender = make_sender()
    await sender.send(post("Before the token expired"))
    bluesky_api.expire_access_tokens()

    await sender.send(post("After the token expired"))

    assert [p.text for p in bluesky_api.posts] == ["Before the token expired",
                                                   "After the token expired"]
    assert [s.status for s in bluesky_api.calls(CREATE)] == [200, 400, 200]
    assert bluesky_api.count(REFRESH, 200) == 1
    assert bluesky_api.count(SESSION) == 1  # refreshed, not signed in again


async def test_a_token_near_its_expiry_is_refreshed_before_posting(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    bluesky_api.access_ttl = 30  # within the sender's margin: refresh before each use
    sender = make_sender()

    await sender.send(post("One"))
    await sender.send(post("Two"))

    assert bluesky_api.count(CREATE, 400) == 0  # never sent with a stale token
    assert bluesky_api.count(REFRESH, 200) >= 1
    assert bluesky_api.count(SESSION) == 1


async def test_an_expired_refresh_token_means_signing_in_again(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    sender = make_sender()
    await sender.send(post("One"))
    bluesky_api.expire_access_tokens()
    bluesky_api.expire_refresh_tokens()

    await sender.send(post("Two"))

    assert len(bluesky_api.posts) == 2
    assert bluesky_api.count(SESSION) == 2
    assert bluesky_api.count(REFRESH, 400) == 1


async def test_a_wrong_app_password_needs_attention(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    with pytest.raises(AuthError) as caught:
        await make_sender(app_password="wrong-pass-word-0000").send(post())

    assert "Invalid identifier or password" in caught.value.problem
    assert bluesky_api.count(CREATE) == 0


async def test_429_carries_the_pds_reset_time(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    bluesky_api.rate_limit(reset_after=900)

    with pytest.raises(RateLimitedError) as caught:
        await make_sender().send(post())

    assert caught.value.retry_after == pytest.approx(900, abs=2)
    assert bluesky_api.posts == []


async def test_429_on_sign_in_is_rate_limited_too(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    bluesky_api.rate_limit(reset_after=300, nsid=SESSION)

    with pytest.raises(RateLimitedError) as caught:
        await make_sender().send(post())

    assert caught.value.retry_after == pytest.approx(300, abs=2)


async def test_a_rate_limited_thumbnail_upload_holds_the_post(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    bluesky_api.rate_limit(reset_after=600, nsid=UPLOAD)
    image = bluesky_api.add_image("plant.png", png(40, 21))

    with pytest.raises(RateLimitedError):
        await make_sender().send(post(link=LINK, image_url=image))

    assert bluesky_api.posts == []  # not posted without its thumbnail: it waits


async def test_a_failed_thumbnail_upload_costs_only_the_thumbnail(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    bluesky_api.fail(500, nsid=UPLOAD)
    image = bluesky_api.add_image("plant.png", png(40, 21))

    receipt = await make_sender().send(post(link=LINK, image_url=image))

    assert bluesky_api.posts[0].card is not None and "thumb" not in bluesky_api.posts[0].card
    assert "thumbnail upload failed" in receipt.note


async def test_401_after_a_refresh_needs_attention(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    bluesky_api.fail(401, error="AuthenticationRequired", message="Token revoked", times=2)

    with pytest.raises(AuthError) as caught:
        await make_sender().send(post())

    assert "refused a freshly refreshed session" in caught.value.problem
    assert bluesky_api.count(REFRESH, 200) == 1 and bluesky_api.posts == []


async def test_invalid_request_is_permanent_with_the_pds_words(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    bluesky_api.fail(400, error="InvalidRequest", message="Invalid app.bsky.feed.post record")

    with pytest.raises(PermanentError) as caught:
        await make_sender().send(post())

    assert not isinstance(caught.value, AuthError)
    assert "InvalidRequest: Invalid app.bsky.feed.post record" in caught.value.problem


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_is_retryable(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory, status: int) -> None:
    bluesky_api.fail(status)

    with pytest.raises(RetryableError):
        await make_sender().send(post())


async def test_an_unreachable_pds_is_retryable(make_sender: SenderFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there

    with pytest.raises(RetryableError):
        await make_sender(api_url=f"http://127.0.0.1:{port}").send(post())


async def test_no_answer_after_the_post_went_out_is_an_unknown_outcome(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    bluesky_api.hang()

    with pytest.raises(UnknownOutcomeError):
        await make_sender(timeout=0.3).send(post())

    assert len(bluesky_api.posts) == 1  # it did go out: only a person can tell


async def test_over_length_text_is_refused_before_sending(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    text = "👨‍👩‍👧‍👦" * 301  # 301 graphemes, 7525 code points

    with pytest.raises(PermanentError) as caught:
        await make_sender().send(post(text))

    assert "301 graphemes, over Bluesky's 300" in caught.value.problem
    assert bluesky_api.count(CREATE) == 0 and bluesky_api.count(SESSION) == 0


async def test_300_emoji_families_are_one_post(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    text = "👍🏽" * 300  # 600 code points, 300 graphemes, 2400 bytes

    await make_sender().send(post(text))

    assert bluesky_api.posts[0].text == text


async def test_no_secret_in_logs_or_errors_through_refresh_401_and_timeout(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):  # a CLI test earlier in the run may have quietened them
        caplog.set_level(logging.DEBUG, logger=name)
    sender = make_sender(timeout=0.3)
    errors: list[ChannelError] = []
    image = bluesky_api.add_image("a.png", png(8, 8))
    await sender.send(post(link=LINK, image_url=image))
    bluesky_api.expire_access_tokens()
    bluesky_api.expire_refresh_tokens()
    await sender.send(post("After a new sign-in"))
    bluesky_api.fail(401, error="AuthenticationRequired", message="Bad token", times=2)
    with pytest.raises(ChannelError) as refused:
        await sender.send(post("Refused"))
    errors.append(refused.value)
    bluesky_api.hang()
    with pytest.raises(UnknownOutcomeError) as timed_out:
        await sender.send(post("Hung"))
    errors.append(timed_out.value)
    with pytest.raises(AuthError) as wrong:
        await make_sender(app_password=APP_PASSWORD[::-1]).send(post("Wrong password"))
    errors.append(wrong.value)

    tokens = [s.authorization.removeprefix("Bearer ") for s in bluesky_api.seen
              if s.authorization]
    assert len(set(tokens)) >= 4  # access and refresh tokens of two sessions, at least
    assert any(r.name.startswith("httpx") for r in caplog.records)  # DEBUG was really on
    logged = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records),
                        *(r.exc_text or "" for r in caplog.records)])
    said = "\n".join(f"{e}\n{e!r}\n{e.problem}" for e in errors)
    for secret in (APP_PASSWORD, APP_PASSWORD[::-1], *tokens):
        assert secret not in logged
        assert secret not in said
    assert HANDLE in logged  # the handle is not a secret: it says which account


async def test_profile_signs_in_without_posting(
        bluesky_api: FakeBlueskyPds, make_sender: SenderFactory) -> None:
    said = await make_sender().profile()

    assert said.startswith(f"@{HANDLE} (Newsroom (test))")
    assert bluesky_api.posts == [] and bluesky_api.count(CREATE) == 0


def test_langs_follow_the_config_or_the_one_language_of_the_routed_sources() -> None:
    from bot.channels.bluesky_platform import post_languages
    from bot.config import parse_config

    config = parse_config("""
sources:
  - {id: en, url: en.xml, language: en}
  - {id: ar, url: ar.xml, language: ar}
  - {id: ar2, url: ar2.xml, language: ar}
channels:
  set: {type: bluesky, langs: [pt-BR]}
  routed: {type: bluesky, route: {sources: [ar, ar2]}}
  by_language: {type: bluesky, route: {languages: [en]}}
  mixed: {type: bluesky}
""")
    langs = {name: post_languages(cfg, config) for name, cfg in config.channels.items()
             if isinstance(cfg, BlueskyChannel)}

    assert langs == {"set": ("pt-BR",), "routed": ("ar",), "by_language": ("en",),
                     "mixed": ()}


def test_config_loading_imports_neither_atproto_nor_the_grapheme_counter() -> None:
    import subprocess
    import sys

    code = ("import sys; from bot.config import parse_config; "
            "parse_config('channels: {a: {type: bluesky, handle: x.bsky.social}}'); "
            "print(sorted(m for m in ('atproto', 'atproto_client', 'regex') "
            "if m in sys.modules))")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout.strip()
    assert out == "[]"
