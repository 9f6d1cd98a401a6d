"""The X channel against a local X API-compatible server: what each answer from X becomes."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.channels.x import XSender, make_channel, make_format, retry_after
from bot.channels.x_platform import XChannel
from bot.config import Config
from bot.errors import (
    AuthError,
    ConfigError,
    DuplicateContentError,
    RateLimitedError,
    RetryableError,
    UnknownOutcomeError,
)
from bot.models import RenderedPost
from tests.fakes.x_api import CONSUMER_KEY, DUPLICATE_DETAIL, FakeXApi
from tests.feed_server import LOOPBACK_ALLOWED

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64  # 16 kB: the one-shot upload
BIG_PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 9000  # 2.3 MB: chunked

SenderFactory = Callable[..., XSender]


@pytest.fixture
async def make_sender(x_api: FakeXApi) -> AsyncIterator[SenderFactory]:
    made: list[XSender] = []

    def make(**overrides: Any) -> XSender:
        sender = XSender("x-test", XChannel(**x_api.channel_settings(**overrides)),
                         url_policy=LOOPBACK_ALLOWED)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.close()


def post(text: str = "Dams on the Tigris https://news.example.org/a/1", **kw: Any) -> RenderedPost:
    return RenderedPost(channel="x-test", article_id=1, text=text, **kw)


async def test_post_is_accepted_with_a_valid_oauth_header(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    receipt = await make_sender().send(post())

    assert [t.text for t in x_api.tweets] == ["Dams on the Tigris https://news.example.org/a/1"]
    assert receipt.platform_id == x_api.tweets[0].id
    assert receipt.url == f"https://x.com/i/web/status/{receipt.platform_id}"
    header = x_api.authorizations[0]
    assert header.startswith("OAuth ") and f'oauth_consumer_key="{CONSUMER_KEY}"' in header
    assert 'oauth_signature_method="HMAC-SHA1"' in header


async def test_duplicate_is_final_and_not_retried(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    sender = make_sender()
    await sender.send(post())

    with pytest.raises(DuplicateContentError) as caught:
        await sender.send(post())

    assert DUPLICATE_DETAIL in str(caught.value)
    assert [s.status for s in x_api.seen if s.path == "/2/tweets"] == [201, 403]


async def test_rate_limit_carries_the_reset_time(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    x_api.rate_limit(reset_after=120)

    with pytest.raises(RateLimitedError) as caught:
        await make_sender().send(post())

    assert caught.value.retry_after == pytest.approx(120, abs=2)
    assert x_api.tweets == []


async def test_rate_limit_waits_for_the_exhausted_24_hour_limit(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    x_api.rate_limit(reset_after=60, user_24h_reset_after=5000)

    with pytest.raises(RateLimitedError) as caught:
        await make_sender().send(post())

    assert caught.value.retry_after == pytest.approx(5000, abs=2)


def test_24_hour_reset_is_ignored_while_that_limit_has_posts_left() -> None:
    now = 1_800_000_000.0
    headers = {
        "x-rate-limit-reset": str(int(now) + 30),
        "x-app-limit-24hour-remaining": "12",
        "x-app-limit-24hour-reset": str(int(now) + 9000),
    }

    assert retry_after(headers, now) == 30


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error_is_retryable(
    x_api: FakeXApi, make_sender: SenderFactory, status: int
) -> None:
    x_api.fail(status)

    with pytest.raises(RetryableError) as caught:
        await make_sender().send(post())

    assert not isinstance(caught.value, RateLimitedError)
    assert caught.value.retry_after is None


async def test_unreachable_server_is_retryable(make_sender: SenderFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the send: connection refused

    with pytest.raises(RetryableError):
        await make_sender(api_url=f"http://127.0.0.1:{port}").send(post())


async def test_no_answer_after_sending_is_an_unknown_outcome(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    x_api.hang()
    started = time.monotonic()

    with pytest.raises(UnknownOutcomeError):
        await make_sender(timeout=0.3).send(post())

    assert time.monotonic() - started < 3


async def test_rejected_credentials_need_attention(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    x_api.unauthorized()

    with pytest.raises(AuthError) as caught:
        await make_sender().send(post())

    assert "401" in str(caught.value)


async def test_forbidden_other_than_duplicate_needs_attention(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    x_api.fail(403, body={"title": "Forbidden", "type": "about:blank", "status": 403,
                          "detail": "You are not permitted to perform this action."})

    with pytest.raises(AuthError) as caught:
        await make_sender().send(post())

    assert not isinstance(caught.value, DuplicateContentError)
    assert "not permitted" in str(caught.value)


async def test_wrong_secret_fails_the_signature_check(make_sender: SenderFactory) -> None:
    with pytest.raises(AuthError):
        await make_sender(api_secret="not-the-secret").send(post())


async def test_image_is_uploaded_in_one_request_with_alt_text(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    url = x_api.add_image("dam.png", PNG)

    receipt = await make_sender(media=True).send(
        post(image_url=url, image_alt="The Mosul dam at dusk"))

    [media] = x_api.media.values()
    assert (media.chunked, media.data, media.alt_text) == (False, PNG, "The Mosul dam at dusk")
    assert x_api.tweets[0].media_ids == (media.id,)
    assert receipt.note == ""


async def test_large_image_is_uploaded_in_chunks_with_alt_text(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    url = x_api.add_image("big.png", BIG_PNG)

    await make_sender(media=True).send(post(image_url=url, image_alt="Flooded fields"))

    [media] = x_api.media.values()
    assert media.chunked and media.segments == 3 and media.data == BIG_PNG
    assert media.alt_text == "Flooded fields"
    assert x_api.tweets[0].media_ids == (media.id,)


async def test_failed_upload_posts_without_the_image_and_says_why(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    url = x_api.add_image("dam.png", PNG)
    x_api.fail(503, path="/2/media/upload")

    receipt = await make_sender(media=True).send(post(image_url=url))

    assert x_api.tweets[0].media_ids == ()
    assert re.search(r"sent without image: media upload: HTTP 503", receipt.note)


async def test_hung_upload_posts_without_the_image(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    url = x_api.add_image("dam.png", PNG)
    x_api.hang(path="/2/media/upload")

    receipt = await make_sender(media=True, timeout=0.3).send(post(image_url=url))

    assert len(x_api.tweets) == 1 and x_api.tweets[0].media_ids == ()
    assert "sent without image: media upload: timed out" in receipt.note


async def test_non_image_url_posts_without_the_image(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    url = x_api.add_image("page.html", b"<html></html>", content_type="text/html")

    receipt = await make_sender(media=True).send(post(image_url=url))

    assert len(x_api.tweets) == 1 and x_api.media == {}
    assert "not an image (text/html)" in receipt.note


async def test_image_is_ignored_when_media_is_off(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    url = x_api.add_image("dam.png", PNG)

    await make_sender(media=False).send(post(image_url=url))

    assert x_api.media == {} and x_api.tweets[0].media_ids == ()


async def test_thread_replies_are_chained(x_api: FakeXApi, make_sender: SenderFactory) -> None:
    receipt = await make_sender().send(post("Part one", thread=("Part two", "Part three")))

    first, second, third = x_api.tweets
    assert (first.reply_to, second.reply_to, third.reply_to) == (None, first.id, second.id)
    assert receipt.platform_id == first.id
    assert receipt.extra["tweet_ids"] == f"{first.id},{second.id},{third.id}"


async def test_failed_reply_keeps_the_posted_start_of_the_thread(
    x_api: FakeXApi, make_sender: SenderFactory
) -> None:
    x_api.fail(503, skip=1)

    receipt = await make_sender().send(post("Part one", thread=("Part two", "Part three")))

    assert [t.text for t in x_api.tweets] == ["Part one"]
    assert receipt.platform_id == x_api.tweets[0].id
    assert "thread stopped at part 2 of 3" in receipt.note


def test_format_counts_weighted_length() -> None:
    fmt = make_format(XChannel(type="x"))

    assert fmt.markup == "text"
    assert fmt.fits("a" * 280, with_media=False)
    assert not fmt.fits("a" * 281, with_media=True)
    assert fmt.fits("日" * 140, with_media=False)
    assert not fmt.fits("日" * 141, with_media=False)
    assert fmt.fits(" ".join(["https://example.com/" + "x" * 80] * 11), with_media=False)


def test_missing_credentials_are_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        make_channel("x-en", XChannel(type="x", api_key="key-3vQ9"), Config())

    assert "api_secret" in str(caught.value) and "key-3vQ9" not in str(caught.value)
