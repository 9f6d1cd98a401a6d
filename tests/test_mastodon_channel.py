"""The Mastodon channel against a local Mastodon API-compatible server: what each answer
becomes, and what a post carries (language, content warning, visibility, image, key)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.channels.mastodon import LOST_ANSWER_RETRY, SAFE_RETRY_AGE, MastodonSender
from bot.channels.mastodon_check import check_online
from bot.channels.mastodon_platform import MastodonChannel, make_format
from bot.config import parse_config
from bot.errors import (
    AuthError,
    ConfigError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UnknownOutcomeError,
)
from bot.models import RenderedPost
from tests.fakes import mastodon_api as fake
from tests.fakes.mastodon_api import TOKEN, FakeMastodonApi
from tests.feed_server import LOOPBACK_ALLOWED
from tests.images import png

mastodon_api = fake.mastodon_api  # the fixture: a fresh instance per test

SenderFactory = Callable[..., MastodonSender]
LINK = "https://news.example.org/en/2026/11/24/dams-on-the-tigris-and-what-they-mean-for-basra"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def make_sender(mastodon_api: FakeMastodonApi) -> AsyncIterator[SenderFactory]:
    made: list[MastodonSender] = []

    def make(*, clock: Callable[[], float] | None = None, **overrides: Any) -> MastodonSender:
        cfg = MastodonChannel(**mastodon_api.channel_settings(**overrides))
        extra: dict[str, Any] = {"clock": clock} if clock else {}
        sender = MastodonSender("mastodon-test", cfg, url_policy=LOOPBACK_ALLOWED, **extra)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.close()


def post(text: str = f"Dams on the Tigris\n\n{LINK}", **kw: Any) -> RenderedPost:
    return RenderedPost(channel="mastodon-test", article_id=7, text=text, **kw)


async def test_a_post_is_a_status_with_its_url(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    receipt = await make_sender().send(post())

    (status,) = mastodon_api.statuses
    assert status.text == f"Dams on the Tigris\n\n{LINK}"
    assert receipt.platform_id == status.id
    assert receipt.url == f"{mastodon_api.base_url}/@newsroom/{status.id}"
    assert mastodon_api.seen[-1].authorization == f"Bearer {TOKEN}"


async def test_the_length_limit_is_the_instances_own_and_read_once(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    mastodon_api.max_characters = 1000
    sender = make_sender()
    fmt = make_format(sender._cfg)
    long_text = "word " * 150 + LINK  # 750 + 23: too long for 500, fine for 1000

    await sender.send(post(long_text))
    await sender.send(post("Second post"))

    assert fmt.limit == 1000
    assert fmt.measure(long_text, with_media=False).ok
    assert len(mastodon_api.statuses) == 2
    assert mastodon_api.instance_requests == 1  # cached, not asked per post


async def test_a_post_rendered_before_a_smaller_limit_was_known_is_rendered_again(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    mastodon_api.max_characters = 100
    text = "word " * 40  # 200: fine by the default 500 the renderer assumed

    with pytest.raises(RetryableError) as caught:
        await make_sender().send(post(text))

    assert "at most 100" in caught.value.problem
    assert caught.value.retry_after is not None and caught.value.retry_after <= 5
    assert mastodon_api.statuses == []


async def test_too_long_once_the_limit_is_known_is_refused_in_mastodons_words(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    mastodon_api.max_characters = 100
    sender = make_sender()
    await sender.send(post("short"))  # the limit is known from here on

    with pytest.raises(PermanentError) as caught:
        await sender.send(post("word " * 40))

    assert "Text character limit of 100 exceeded" in caught.value.problem
    assert "(422)" in caught.value.problem


async def test_every_url_counts_23_however_long(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    mastodon_api.max_characters = 60
    sender = make_sender()
    await sender.send(post("warm-up"))
    text = f"Read: {LINK}?utm_source=a-very-long-campaign-name-that-goes-on-and-on"

    assert make_format(sender._cfg).measure(text, with_media=False).length == 6 + 23
    await sender.send(post(text))

    assert mastodon_api.statuses[-1].text == text


async def test_language_content_warning_and_visibility_come_from_the_front_matter(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    text = ("---\nlanguage: ar-IQ\nspoiler: صور قاسية\nvisibility: unlisted\n---\n"
            "سدود على دجلة")

    await make_sender(visibility="public", language="en").send(post(text))

    (status,) = mastodon_api.statuses
    assert status.text == "سدود على دجلة"  # the front matter is not posted
    assert (status.language, status.spoiler_text, status.visibility) == (
        "ar", "صور قاسية", "unlisted")


async def test_the_channels_settings_apply_where_the_front_matter_is_silent(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    sender = make_sender(visibility="private", language="fr", spoiler_text="Politique")

    await sender.send(post("---\nlanguage:\n---\nUn titre"))

    (status,) = mastodon_api.statuses
    assert (status.text, status.language, status.spoiler_text, status.visibility) == (
        "Un titre", "fr", "Politique", "private")


async def test_a_bad_front_matter_key_fails_the_post_naming_it(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    with pytest.raises(PermanentError) as caught:
        await make_sender().send(post("---\nlang: en\n---\nTitle"))

    assert "'lang: en'" in caught.value.problem and "language" in caught.value.problem
    assert mastodon_api.statuses == []


async def test_the_image_is_uploaded_with_its_alt_text(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    image = png(40, 30)
    url = mastodon_api.add_image("dam.png", image)

    receipt = await make_sender().send(post(image_url=url, image_alt="The Mosul dam at dusk"))

    (status,) = mastodon_api.statuses
    (media,) = [mastodon_api.media[m] for m in status.media_ids]
    assert (media.data, media.content_type) == (image, "image/png")
    assert media.description == "The Mosul dam at dusk"
    assert receipt.extra["media_id"] == media.id and receipt.note == ""


async def test_an_image_inside_the_network_is_never_fetched_and_the_post_goes_as_text(
        mastodon_api: FakeMastodonApi) -> None:
    url = mastodon_api.add_image("dam.png", png(4, 4))
    cfg = MastodonChannel(**mastodon_api.channel_settings())
    sender = MastodonSender("mastodon-test", cfg)  # the default policy: no loopback
    try:
        receipt = await sender.send(post(image_url=url, image_alt="alt"))
    finally:
        await sender.close()

    assert mastodon_api.requests_to("/images/dam.png", "GET") == []
    (status,) = mastodon_api.statuses
    assert status.media_ids == []
    assert receipt.note.startswith("sent without image: image not fetched")


async def test_a_429_waits_until_x_ratelimit_reset(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    mastodon_api.rate_limit(reset_after=120)

    with pytest.raises(RateLimitedError) as caught:
        await make_sender().send(post())

    assert caught.value.retry_after == pytest.approx(120, abs=3)
    assert mastodon_api.statuses == []


async def test_a_429_on_the_image_upload_holds_the_whole_post(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    url = mastodon_api.add_image("dam.png", png(4, 4))
    mastodon_api.rate_limit(reset_after=600, path="/api/v2/media")

    with pytest.raises(RateLimitedError) as caught:
        await make_sender().send(post(image_url=url, image_alt="alt"))

    assert caught.value.retry_after == pytest.approx(600, abs=3)
    assert mastodon_api.statuses == []  # not posted without its image


async def test_a_retry_after_a_lost_answer_posts_once(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    mastodon_api.hold_after_posting()
    sender = make_sender(timeout=0.5)

    with pytest.raises(RetryableError) as caught:
        await sender.send(post())
    receipt = await sender.send(post())

    assert caught.value.retry_after == LOST_ANSWER_RETRY
    assert not isinstance(caught.value, RateLimitedError)
    (status,) = mastodon_api.statuses  # the server made one status, not two
    assert receipt.platform_id == status.id
    keys = [s.idempotency_key for s in mastodon_api.requests_to("/api/v1/statuses")]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]


async def test_a_retry_rendered_differently_after_a_lost_answer_still_posts_once(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    mastodon_api.hold_after_posting()
    sender = make_sender(timeout=0.5)
    with pytest.raises(RetryableError):
        await sender.send(post("Dams on the Tigris"))

    # Rendered again meanwhile (a longer limit learnt, a feed edit): same article, new text.
    receipt = await sender.send(post("Dams on the Tigris: water levels fall again"))

    (status,) = mastodon_api.statuses
    assert receipt.platform_id == status.id and status.text == "Dams on the Tigris"


async def test_different_posts_carry_different_keys(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    sender = make_sender()
    await sender.send(post("First"))
    await sender.send(post("Second"))

    assert len(mastodon_api.statuses) == 2
    assert len({s.idempotency_key for s in mastodon_api.statuses}) == 2


async def test_a_lost_answer_older_than_mastodons_key_memory_is_not_retried(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    mastodon_api.hold_after_posting()
    clock = Clock()
    sender = make_sender(timeout=0.5, clock=clock)
    with pytest.raises(RetryableError):
        await sender.send(post())

    clock.now += SAFE_RETRY_AGE + 1
    with pytest.raises(UnknownOutcomeError) as caught:
        await sender.send(post())

    assert "remembers a post's key for an hour" in caught.value.problem
    assert len(mastodon_api.requests_to("/api/v1/statuses")) == 1
    await sender.send(post())  # a person looked and retried it (`newsbot retry`): it goes
    assert len(mastodon_api.requests_to("/api/v1/statuses")) == 2


async def test_an_edit_replaces_the_text_in_place_and_keeps_the_image(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    sender = make_sender()
    url = mastodon_api.add_image("dam.png", png(4, 4))
    sent = await sender.send(post("Dams on the Tigris", image_url=url, image_alt="alt"))

    edited = await sender.edit(sent.platform_id, post(
        "---\nspoiler: Corrected\n---\nDams on the Euphrates"))

    (status,) = mastodon_api.statuses
    assert edited.platform_id == sent.platform_id == status.id
    assert (status.text, status.spoiler_text) == ("Dams on the Euphrates", "Corrected")
    assert status.edits == ["Dams on the Tigris"]
    assert len(status.media_ids) == 1  # listed again, so Mastodon keeps it
    assert [s.method for s in mastodon_api.seen if s.path == f"/api/v1/statuses/{status.id}"
            ] == ["GET", "PUT"]


async def test_editing_a_deleted_post_is_permanent(make_sender: SenderFactory) -> None:
    with pytest.raises(PermanentError) as caught:
        await make_sender().edit("404404", post("Corrected"))

    assert "(404)" in caught.value.problem


async def test_a_refused_token_is_an_auth_error(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory) -> None:
    with pytest.raises(AuthError) as caught:
        await make_sender(access_token="not-the-token").send(post())

    assert "The access token is invalid" in caught.value.problem
    assert mastodon_api.statuses == []


def test_no_token_is_a_config_error(mastodon_api: FakeMastodonApi) -> None:
    with pytest.raises(ConfigError) as caught:
        MastodonSender("m", MastodonChannel(**mastodon_api.channel_settings(access_token="")))

    assert caught.value.path == "channels.m" and "access_token" in caught.value.problem


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_is_retryable(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory, status: int) -> None:
    mastodon_api.fail(status, method="POST")

    with pytest.raises(RetryableError) as caught:
        await make_sender().send(post())

    assert not isinstance(caught.value, RateLimitedError)
    assert f"({status})" in caught.value.problem


async def test_an_unreachable_instance_is_retryable(make_sender: SenderFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the send: connection refused

    with pytest.raises(RetryableError) as caught:
        await make_sender(api_url=f"http://127.0.0.1:{port}").send(post())

    assert "could not connect" in caught.value.problem


async def test_the_token_never_reaches_logs_or_errors(
        mastodon_api: FakeMastodonApi, make_sender: SenderFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sender = make_sender()
    await sender.send(post())
    mastodon_api.fail(401, method="POST", error=f"token {TOKEN} was revoked")
    with pytest.raises(AuthError) as caught:
        await sender.send(post("Another"))
    mastodon_api.hold_after_posting()
    with pytest.raises(RetryableError) as lost:
        await make_sender(timeout=0.3).send(post("Third"))

    assert mastodon_api.seen[0].authorization.endswith(TOKEN)  # it was sent, only to Mastodon
    assert caplog.records, "expected the requests to be logged"
    for text in (caplog.text, str(caught.value), str(lost.value), repr(sender)):
        assert TOKEN not in text


async def test_check_online_names_the_account_and_the_instances_limit(
        mastodon_api: FakeMastodonApi) -> None:
    mastodon_api.max_characters = 11000
    cfg = MastodonChannel(**mastodon_api.channel_settings())

    result = await check_online("m", cfg, parse_config(""))

    assert result.ok
    assert result.message == ("ok: the token belongs to @newsroom; the instance takes posts "
                              "of up to 11000 characters")
    assert mastodon_api.statuses == []
    assert make_format(cfg).limit == 11000  # remembered for the renderer


@pytest.mark.parametrize(("status", "blocking"), [(401, True), (403, False), (503, False)])
async def test_check_online_holds_the_channel_only_when_the_token_is_refused(
        mastodon_api: FakeMastodonApi, status: int, blocking: bool) -> None:
    mastodon_api.fail(status, path="/api/v1/accounts/verify_credentials",
                      error="This action is outside the authorized scopes")
    cfg = MastodonChannel(**mastodon_api.channel_settings())

    result = await check_online("m", cfg, parse_config(""))

    assert not result.ok and result.blocking is blocking
    assert TOKEN not in result.message
