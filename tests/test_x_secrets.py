"""No X secret, and no OAuth signature, reaches a log record or an error message."""

from __future__ import annotations

import logging
import re

import pytest

from bot.channels.x import XSender
from bot.channels.x_platform import XChannel
from bot.errors import AuthError, ChannelError, UnknownOutcomeError
from bot.models import RenderedPost
from tests.fakes.x_api import (
    ACCESS_SECRET,
    ACCESS_TOKEN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    FakeXApi,
)
from tests.feed_server import LOOPBACK_ALLOWED


async def test_debug_logs_and_errors_hold_no_secret_through_send_401_and_timeout(
    x_api: FakeXApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = XSender("x-test", XChannel(**x_api.channel_settings(timeout=0.3, media=True)),
                     url_policy=LOOPBACK_ALLOWED)
    errors: list[ChannelError] = []
    try:
        image = x_api.add_image("a.png", b"\x89PNG" + b"\0" * 100)
        await sender.send(RenderedPost("x-test", 1, "First post", image_url=image))
        x_api.unauthorized()
        with pytest.raises(AuthError) as unauthorized:
            await sender.send(RenderedPost("x-test", 2, "Second post"))
        errors.append(unauthorized.value)
        x_api.hang()
        with pytest.raises(UnknownOutcomeError) as timed_out:
            await sender.send(RenderedPost("x-test", 3, "Third post"))
        errors.append(timed_out.value)
    finally:
        await sender.close()

    signatures = [m[1] for h in x_api.authorizations
                  for m in re.finditer(r'oauth_(signature|nonce)="([^"]+)"', h)]
    assert len(signatures) >= 8  # the fake server did see signed requests
    records = caplog.records
    assert any(r.name.startswith("tweepy") for r in records)  # DEBUG logging was really on
    logged = "\n".join(
        [caplog.text, *(r.getMessage() for r in records), *(r.exc_text or "" for r in records)]
    )
    said = "\n".join(f"{e}\n{e!r}\n{e.problem}" for e in errors)
    for secret in (CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET, *signatures):
        assert secret not in logged
        assert secret not in said
    assert "OAuth oauth_" not in logged
