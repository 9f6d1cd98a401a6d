"""The bot token never shows: not in any log record at any level, not in any error."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest

from bot.channels.telegram import TelegramSender
from bot.channels.telegram_platform import TelegramChannel
from bot.errors import AuthError, ChannelError, UnknownOutcomeError
from bot.models import RenderedPost
from bot.redact import MASK, install_redaction, redact
from tests.fakes import telegram_api as fake_api
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.feed_server import LOOPBACK_ALLOWED

telegram_api = fake_api.telegram_api  # the fixture: a fresh server per test

WRONG_TOKEN = "555666777:AAwrongTokenThatLooksRealEnough_0123456789"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def everything_logged() -> Iterator[Capture]:
    """Every record from every logger, at DEBUG, through a handler added after the fact."""
    capture = Capture()
    root = logging.getLogger()
    names = ("httpx", "httpcore", "telegram", "bot")
    saved = [root.level, *(logging.getLogger(n).level for n in names)]
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture)
    root.setLevel(saved[0])
    for name, level in zip(names, saved[1:], strict=True):
        logging.getLogger(name).setLevel(level)


def channel(api: FakeTelegramAPI, token: str, timeout: float = 2.0) -> TelegramSender:
    cfg = TelegramChannel(type="telegram", token=token, chat="@newsroom", api_url=api.base_url,
                          timeout=timeout)  # type: ignore[arg-type]
    return TelegramSender("tg", cfg, url_policy=LOOPBACK_ALLOWED)  # the photo is on loopback


def error_texts(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


async def test_token_appears_in_no_log_record_and_no_error(
        telegram_api: FakeTelegramAPI, everything_logged: Capture) -> None:
    post = RenderedPost(channel="tg", article_id=1, text="<b>Hello</b>", link="https://x.org",
                        image_url=telegram_api.image_url())
    errors: list[ChannelError] = []

    good = channel(telegram_api, TOKEN, timeout=0.5)
    await good.send(post)  # a full send: getMe, sendPhoto
    telegram_api.hang_next()
    with pytest.raises(UnknownOutcomeError) as timeout:  # a timeout
        await good.send(post)
    errors.append(timeout.value)
    await good.close()

    wrong = channel(telegram_api, WRONG_TOKEN)
    with pytest.raises(AuthError) as unauthorized:  # a 401
        await wrong.send(post)
    errors.append(unauthorized.value)
    await wrong.close()

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join(formatter.format(r) for r in everything_logged.records)
    assert "HTTP Request: POST" in logged and MASK in logged  # the capture saw httpx's lines
    for secret in (TOKEN, WRONG_TOKEN, TOKEN.split(":")[1]):
        assert secret not in logged
        assert all(secret not in r.getMessage() for r in everything_logged.records)
        for error in errors:
            assert secret not in error_texts(error)
        assert secret not in repr(good) and secret not in repr(wrong)


def test_redact_masks_registered_secrets_and_token_shaped_text() -> None:
    install_redaction("s3cret-value")
    assert redact("a s3cret-value b") == f"a {MASK} b"
    assert redact("url /bot123456789:AAabcdefghijklmnopqrstuvwxyz0123456/getMe") == (
        f"url /bot{MASK}/getMe")


def test_records_from_loggers_created_later_are_redacted(everything_logged: Capture) -> None:
    install_redaction("another-secret-1")
    logging.getLogger("some.new.library").warning("connecting with %s", "another-secret-1")
    assert everything_logged.records[-1].getMessage() == f"connecting with {MASK}"
