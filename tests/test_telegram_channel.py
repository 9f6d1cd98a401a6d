"""The Telegram channel against a local Bot API server: what goes out, and every failure."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from bot.channels import make_channel, post_format
from bot.channels.telegram import TelegramSender, api_urls, message_url
from bot.channels.telegram_pacing import TELEGRAM_LIMITS, Limits, Pacer
from bot.channels.telegram_platform import TelegramChannel
from bot.config import parse_config
from bot.errors import (
    AuthError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UnknownOutcomeError,
)
from bot.models import RenderedPost
from tests.fakes import telegram_api as fake_api
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.feed_server import LOOPBACK_ALLOWED
from tests.kit import MonotonicClock, wait_until

telegram_api = fake_api.telegram_api  # the fixture: a fresh server per test

# PTB itself warns, inside RetryAfter(), that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

POST = "<b>Title &amp; more</b>\n\nA summary.\n\n<a href=\"https://news.example.org/a\">Read</a>"


def fast_pacer() -> Pacer:
    """No waiting between sends (for tests that switch the server's flood control off)."""
    return Pacer(Limits(per_chat_interval=0.0, margin=0.0, per_chat_per_window=10_000,
                        overall_per_second=10_000))


def sender(api: FakeTelegramAPI, chat: str | int = "@newsroom", *, fast: bool = True,
           token: str = TOKEN, pacer: Pacer | None = None, max_wait: float = 30.0,
           **options: Any) -> TelegramSender:
    if fast:
        api.flood_control = False
    options.setdefault("timeout", 2)
    cfg = TelegramChannel(type="telegram", token=token, chat=chat, api_url=api.base_url,
                          **options)
    return TelegramSender("tg-test", cfg, pacer=pacer or (fast_pacer() if fast else None),
                          max_wait=max_wait, url_policy=LOOPBACK_ALLOWED)


def post(text: str = POST, image_url: str | None = None) -> RenderedPost:
    return RenderedPost(channel="tg-test", article_id=1, text=text,
                        link="https://news.example.org/a", image_url=image_url)


# -- sending -----------------------------------------------------------------------------


async def test_text_post_is_sent_as_html_message(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api)
    receipt = await channel.send(post())
    await channel.close()
    [message] = telegram_api.messages
    assert (message.method, message.chat, message.text, message.parse_mode) == (
        "sendMessage", "@newsroom", POST, "HTML")
    assert receipt.platform_id == str(message.message_id)


async def test_public_channel_receipt_links_to_the_message(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api)
    receipt = await channel.send(post())
    await channel.close()
    assert receipt.url == f"https://t.me/newsroom/{receipt.platform_id}"


async def test_private_channel_receipt_uses_the_c_link(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api, chat=-1001234567890)
    receipt = await channel.send(post())
    await channel.close()
    assert receipt.url == f"https://t.me/c/1234567890/{receipt.platform_id}"
    assert receipt.extra["chat_id"] == "-1001234567890"


def test_message_url_for_a_private_group_is_empty() -> None:
    assert message_url(-4242, None, 7) == ""


async def test_post_with_image_is_sent_as_photo_with_caption(
        telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api)
    receipt = await channel.send(post(image_url=telegram_api.image_url()))
    await channel.close()
    [message] = telegram_api.messages
    assert (message.method, message.caption, message.photo) == (
        "sendPhoto", POST, telegram_api.image_url())
    assert receipt.note == ""


async def test_rejected_photo_falls_back_to_text_with_preview(
        telegram_api: FakeTelegramAPI) -> None:
    telegram_api.reject_photos = True
    channel = sender(telegram_api)
    receipt = await channel.send(post(image_url=telegram_api.image_url()))
    await channel.close()
    [message] = telegram_api.messages
    assert message.method == "sendMessage"
    assert message.options["link_preview_options"]["url"] == "https://news.example.org/a"
    assert receipt.note.startswith("sent as text: photo rejected")
    assert "image_process_failed" in receipt.note.lower()


async def test_unfetchable_photo_falls_back_to_text(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api)
    receipt = await channel.send(post(image_url=telegram_api.image_url("missing.jpg")))
    await channel.close()
    assert [m.method for m in telegram_api.messages] == ["sendMessage"]
    assert "failed to get http url content" in receipt.note.lower()


async def test_post_too_long_for_a_caption_is_sent_as_text(
        telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api)
    receipt = await channel.send(post(text="x" * 1500, image_url=telegram_api.image_url()))
    await channel.close()
    assert [m.method for m in telegram_api.messages] == ["sendMessage"]
    assert "caption" in receipt.note


async def test_photo_never_sends_text_only(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api, photo="never")
    await channel.send(post(image_url=telegram_api.image_url()))
    await channel.close()
    assert [m.method for m in telegram_api.messages] == ["sendMessage"]


async def test_thread_and_silent_options_are_sent(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api, chat=-1009, message_thread_id=42, silent=True)
    await channel.send(post())
    await channel.close()
    options = telegram_api.messages[0].options
    assert (str(options["message_thread_id"]), options["disable_notification"]) == ("42", "true")


@pytest.mark.parametrize(("mode", "expected"), [
    ("off", {"is_disabled": True}),
    ("above", {"url": "https://news.example.org/a", "show_above_text": True}),
    ("on", {"url": "https://news.example.org/a", "show_above_text": False}),
])
async def test_link_preview_setting_is_sent(telegram_api: FakeTelegramAPI, mode: str,
                                            expected: dict[str, Any]) -> None:
    channel = sender(telegram_api, link_preview=mode)
    await channel.send(post())
    await channel.close()
    assert telegram_api.messages[0].options["link_preview_options"] == expected


def test_api_url_maps_to_ptb_base_urls() -> None:
    assert api_urls("https://api.telegram.org/") == (
        "https://api.telegram.org/bot", "https://api.telegram.org/file/bot")


def test_registry_builds_the_telegram_channel(telegram_api: FakeTelegramAPI) -> None:
    config = parse_config(
        f"channels:\n  tg:\n    type: telegram\n    token: '{TOKEN}'\n"
        f"    chat: '@newsroom'\n    api_url: {telegram_api.base_url}\n")
    cfg = config.channels["tg"]
    assert post_format(cfg).markup == "html"
    assert isinstance(make_channel("tg", cfg, config), TelegramSender)


# -- errors ------------------------------------------------------------------------------


async def test_flood_429_raises_rate_limited_with_retry_after(
        telegram_api: FakeTelegramAPI) -> None:
    telegram_api.fail_next(429, retry_after=7)
    channel = sender(telegram_api)
    with pytest.raises(RateLimitedError) as caught:
        await channel.send(post())
    await channel.close()
    assert caught.value.retry_after == 7


async def test_429_pauses_only_that_chat(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.fail_next(429, chat="@busy", retry_after=30)
    clock = MonotonicClock()
    pacer = Pacer(Limits(per_chat_interval=0.0, margin=0.0, per_chat_per_window=10_000,
                         overall_per_second=10_000), clock=clock, sleep=clock.sleep)
    busy = sender(telegram_api, chat="@busy", pacer=pacer, max_wait=5)
    calm = sender(telegram_api, chat="@calm", pacer=pacer)
    with pytest.raises(RateLimitedError):
        await busy.send(post())
    await calm.send(post())
    assert clock.waited < 0.1  # the other chat's post did not wait out @busy's 30 s
    assert [m.chat for m in telegram_api.messages] == ["@calm"]
    requests = len(telegram_api.requests)
    with pytest.raises(RateLimitedError):  # the pause is kept locally: no request goes out
        await busy.send(post())
    assert len(telegram_api.requests) == requests
    await busy.close()
    await calm.close()


async def test_forbidden_raises_auth_error_with_telegrams_words(
        telegram_api: FakeTelegramAPI) -> None:
    telegram_api.fail_next(403)
    channel = sender(telegram_api)
    with pytest.raises(AuthError, match="bot is not a member of the channel chat"):
        await channel.send(post())
    await channel.close()


async def test_wrong_token_raises_auth_error(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api, token="987654321:AAwrongwrongwrongwrongwrongwrongwrong")
    with pytest.raises(AuthError, match="token refused"):
        await channel.send(post())
    await channel.close()
    assert telegram_api.messages == []


async def test_bad_request_is_permanent_with_description(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.fail_next(400)
    channel = sender(telegram_api)
    with pytest.raises(PermanentError, match=r"(?i)chat not found"):
        await channel.send(post())
    await channel.close()


async def test_unparsable_html_is_permanent(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api)
    with pytest.raises(PermanentError, match=r"(?i)can't parse entities"):
        await channel.send(post("<p>not telegram html</p>"))
    await channel.close()


async def test_bad_request_is_not_retryable_despite_being_a_network_error(
        telegram_api: FakeTelegramAPI) -> None:
    telegram_api.fail_next(400, description="Bad Request: message is too long")
    channel = sender(telegram_api)
    with pytest.raises(PermanentError) as caught:
        await channel.send(post())
    await channel.close()
    assert not isinstance(caught.value, RetryableError | UnknownOutcomeError)


@pytest.mark.parametrize("status", [500, 502])
async def test_server_error_is_retryable(telegram_api: FakeTelegramAPI, status: int) -> None:
    telegram_api.fail_next(status)
    channel = sender(telegram_api)
    with pytest.raises(RetryableError) as caught:
        await channel.send(post())
    await channel.close()
    assert not isinstance(caught.value, RateLimitedError)


async def test_connection_refused_is_retryable(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api)
    await channel.send(post())
    telegram_api.stop()
    with pytest.raises(RetryableError, match="not sent"):
        await channel.send(post())
    await channel.close()


async def test_unreachable_server_at_start_is_retryable() -> None:
    api = FakeTelegramAPI().start()
    api.stop()  # the port is now closed
    channel = sender(api)
    with pytest.raises(RetryableError):
        await channel.send(post())
    await channel.close()


async def test_no_answer_after_sending_is_unknown_outcome(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api, timeout=0.4)
    await channel.send(post())  # getMe and a first message answered normally
    telegram_api.hang_next()
    with pytest.raises(UnknownOutcomeError):
        await channel.send(post())
    await channel.close()
    assert len(telegram_api.messages) == 2  # Telegram did take it: retrying would duplicate


async def test_pool_timeout_is_retryable(telegram_api: FakeTelegramAPI) -> None:
    api = telegram_api
    api.flood_control = False
    cfg = TelegramChannel(type="telegram", token=TOKEN, chat="@a", api_url=api.base_url,
                          timeout=0.6)
    channel = TelegramSender("tg-test", cfg, pacer=fast_pacer(), pool_size=1, pool_timeout=0.1)
    await channel.send(post())
    api.hang_next()
    first = asyncio.create_task(channel.send(post()))
    # The only connection is now taken: Telegram has the message and has not answered.
    await wait_until(lambda: len(api.messages) == 2, what="the hanging send")
    with pytest.raises(RetryableError, match="not sent"):
        await channel.send(post())
    with pytest.raises(UnknownOutcomeError):
        await first
    await channel.close()


async def test_migrated_group_is_resent_to_the_supergroup(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.migrate(-4001, -1004001)
    channel = sender(telegram_api, chat=-4001)
    receipt = await channel.send(post())
    await channel.close()
    assert receipt.extra["migrated_to_chat_id"] == "-1004001"
    assert [m.chat for m in telegram_api.messages] == ["-1004001"]
    assert channel.chat == -1004001


async def test_a_closed_channel_posts_nothing_and_says_the_post_was_not_sent(
        telegram_api: FakeTelegramAPI) -> None:
    # A reload closes the channels it replaces. A post handed to a closed one must not be
    # reported "it may have been posted" (an editor would have to check the channel): it
    # certainly was not, and dispatch can simply send it again.
    channel = sender(telegram_api)
    await channel.send(post())
    await channel.close()
    await channel.close()  # safe twice
    requests = len(telegram_api.requests)
    with pytest.raises(RetryableError, match="not sent: the channel was closed"):
        await channel.send(post())
    assert len(telegram_api.requests) == requests
    assert len(telegram_api.messages) == 1


# -- pacing against the server's flood control ------------------------------------------------


async def test_paced_sends_to_one_chat_get_no_429(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api, fast=False)
    await asyncio.gather(*(channel.send(post()) for _ in range(3)))
    await channel.close()
    assert telegram_api.count(429) == 0
    times = [m.at for m in telegram_api.messages]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1.0


async def test_unpaced_sends_to_one_chat_do_get_429(telegram_api: FakeTelegramAPI) -> None:
    channel = sender(telegram_api, fast=False, pacer=fast_pacer())
    results = await asyncio.gather(*(channel.send(post()) for _ in range(2)),
                                   return_exceptions=True)
    await channel.close()
    assert any(isinstance(r, RateLimitedError) for r in results)


async def test_a_rejected_photo_goes_out_as_text_at_once_without_429(
        telegram_api: FakeTelegramAPI) -> None:
    # Telegram posted nothing for the photo it refused, so the text is not held a second
    # behind it: the subscriber gets the post as soon as Telegram said no to the image.
    clock = MonotonicClock()
    with FakeTelegramAPI(clock=clock) as api:  # Telegram's flood limits, on the test's clock
        api.reject_photos = True
        channel = sender(api, fast=False, pacer=Pacer(clock=clock, sleep=clock.sleep))
        receipt = await channel.send(post(image_url=api.image_url()))
        await channel.close()
    assert [m.method for m in api.messages] == ["sendMessage"]
    assert receipt.note.startswith("sent as text: photo rejected")
    # Paced only by the bot's overall rate (1/30 s), not held the chat's second.
    assert clock.waited < TELEGRAM_LIMITS.per_chat_interval and api.count(429) == 0
