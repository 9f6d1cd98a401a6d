"""The digest's copies in transmission form: what goes after DATA must be exactly what
aiosmtplib's own DATA would have sent, and must arrive whole at a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from bot.config import EmailChannel
from bot.digest.commands import run_digest
from bot.digest.message import CopyMaker, Recipient, RenderedDigest
from bot.store import Store
from tests import smtp_server as kit
from tests.smtp_server import RUN_AT, RecordingHandler, add_article, add_subscribers, make_config

digest_store = kit.digest_store
smtp_server = kit.smtp_server

NOW = datetime(2026, 11, 24, 4, 0, 5, 123456, tzinfo=UTC)
UNSUB, EMAIL = "nbx-unsubscribe-00", "nbx-email-00"


def _rendered(text: str, page: str) -> RenderedDigest:
    return RenderedDigest(channel="digest", run_id=7, subject="Morning digest", html=page,
                          text=text, marker_unsubscribe=UNSUB, marker_email=EMAIL,
                          boundary="=_newsbot_00_=")


def _cfg(tmp_path: Path) -> EmailChannel:
    channel = make_config(tmp_path).channels["digest"]
    assert isinstance(channel, EmailChannel)
    return channel


def _recipient(email: str = "reader@example.com", url: str | None = None) -> Recipient:
    return Recipient(1, email, url or "https://news.example.org/bot/unsubscribe/tok.en-1",
                     "mailto:digest@news.example.org?subject=unsubscribe")


# Lines that start with a dot, a line that is only a dot (SMTP's end of data), a long line
# whose quoted-printable soft break lands just before a dot, and per-recipient lines that
# start with a dot once the address goes in.
TEXT = ("Morning digest\n.NET 9 is out\n.\n..two dots\n" + "x" * 75 + ".tail\n"
        f"{EMAIL} reads this\n.{EMAIL}\nUnsubscribe: {UNSUB}\n")
PAGE = ("<p>First\n.hidden\n.\n</p>\n<p>" + "y" * 200 + "\n.z</p>\n"
        f'<a href="{UNSUB}">leave</a> .{EMAIL}\n.{UNSUB}\n')


@pytest.mark.parametrize("eight_bit", [True, False], ids=["8bit", "quoted-printable"])
def test_transmission_is_what_aiosmtplib_would_send(tmp_path: Path, eight_bit: bool) -> None:
    maker = CopyMaker(_rendered(TEXT, PAGE), _cfg(tmp_path), eight_bit=eight_bit)
    recipient = _recipient()
    message = maker.make(recipient, now=NOW)
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
    assert maker.transmission(recipient, now=NOW) == expected
    assert b"\r\n.\r\n" not in expected[:-3]  # no early end of data anywhere


@pytest.mark.parametrize("recipient", [
    _recipient(),
    _recipient("first.last+tag@mail.example.co.uk"),
    _recipient("a_b-c@x-y.example"),
    _recipient("someone.with.a.very.long.local.part.indeed@a-long-subdomain.example.org"),
    _recipient("reader@bücher.example"),
    _recipient("o'brien@example.com"),
    _recipient(url="https://news.example.org/bot/unsubscribe/a=?b?q?c?="),
    _recipient(url="https://news.example.org/bot/unsubscribe/" + "t" * 1000),
    _recipient(url="https://news.example.org/bot/unsub scribe"),
], ids=lambda r: f"{r.email[:20]}|{r.unsubscribe_url[-12:]}")
def test_per_copy_headers_are_exactly_what_the_email_package_writes(
        tmp_path: Path, recipient: Recipient) -> None:
    """The everyday path writes the four per-copy headers itself; for every input (those
    it takes and those it hands on) the bytes equal policy.SMTP's through EmailMessage."""
    from bot.digest.message import _folded, _recipient_headers

    maker = CopyMaker(_rendered("text\n", "<p>page</p>\n"), _cfg(tmp_path))
    head = maker.make(recipient, now=NOW).split(b"\r\n\r\n", 1)[0] + b"\r\n"
    slow = _folded(_recipient_headers(maker.rendered, recipient, maker.domain,
                                      NOW.replace(microsecond=0)))
    assert head.endswith(slow)
    parsed = message_from_bytes(maker.make(recipient, now=NOW), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == recipient.email
    assert parsed["Date"].datetime == NOW.replace(microsecond=0)


async def test_lines_of_dots_arrive_whole(tmp_path: Path, digest_store: Store,
                                          smtp_server: tuple[RecordingHandler, int]) -> None:
    """A feed summary with a line holding a lone dot (SMTP's end-of-data mark) and lines
    starting with dots reaches the reader intact, and ends nothing early."""
    handler, port = smtp_server
    add_article(digest_store, 1, summary_html="<p>Before\n.\n.NET and ..more\nafter the dot</p>",
                summary="Before . .NET and ..more after the dot")
    add_subscribers(digest_store, 2)
    outcome = await run_digest(make_config(tmp_path, port), digest_store, "digest", RUN_AT)
    assert outcome.report is not None and outcome.report.sent == 2
    assert len(handler.received) == 2
    for received in handler.received:
        part = received.message.get_body(("html",))
        assert part is not None
        page = part.get_content().replace("\r\n", "\n")
        assert "Before\n.\n.NET and ..more\nafter the dot" in page
        assert page.rstrip().endswith("</html>")


async def test_every_copy_on_a_connection_is_encoded_alike(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    """aiosmtpd announces 8BITMIME: the first copy on each connection is 8bit like the rest
    (the extensions are known before it is built), and MAIL says BODY=8BITMIME for each."""
    handler, port = smtp_server
    add_article(digest_store, 1, summary_html="<p>Résumé: naïve café</p>",
                summary="Résumé: naïve café")
    add_subscribers(digest_store, 6)
    config = make_config(tmp_path, port)
    await run_digest(config, digest_store, "digest", RUN_AT)
    assert len(handler.received) == 6
    encodings = set()
    for received in handler.received:
        for part in received.message.iter_parts():
            encodings.add(part["Content-Transfer-Encoding"])
        assert "Résumé: naïve café" in received.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert encodings == {"8bit"}
