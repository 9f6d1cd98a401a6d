"""The digest as received by a real SMTP server, parsed back with the email package."""

from __future__ import annotations

import re
from pathlib import Path

from bot.digest.commands import run_digest
from bot.store import Store
from tests import smtp_server as kit
from tests.smtp_server import (
    RUN_AT,
    RecordingHandler,
    add_article,
    add_subscribers,
    make_config,
)

digest_store = kit.digest_store  # fixtures shared by the digest tests
smtp_server = kit.smtp_server


async def _send_one(tmp_path: Path, store: Store, server: tuple[RecordingHandler, int],
                    **article: object) -> RecordingHandler:
    handler, port = server
    config = make_config(tmp_path, port)
    add_article(store, 1, **article)  # type: ignore[arg-type]
    add_subscribers(store, 1)
    outcome = await run_digest(config, store, "digest", RUN_AT)
    assert outcome.status == "sent", outcome
    return handler


async def test_message_has_text_and_html_parts(tmp_path: Path, digest_store: Store,
                                               smtp_server: tuple[RecordingHandler, int]) -> None:
    handler = await _send_one(tmp_path, digest_store, smtp_server)
    (received,) = handler.received
    msg = received.message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Article 1" in text and "https://news.example.org/a/1" in text
    assert "Article 1" in page and "reader0@example.com" in page


async def test_headers_present_and_single_line(tmp_path: Path, digest_store: Store,
                                               smtp_server: tuple[RecordingHandler, int]) -> None:
    handler = await _send_one(tmp_path, digest_store, smtp_server)
    msg = handler.received[0].message
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
                 "List-Unsubscribe-Post", "List-Id"):
        value = msg[name]
        assert value, name
        assert "\n" not in str(value) and "\r" not in str(value), name
    assert msg["To"] == "reader0@example.com"
    assert msg["Message-ID"].endswith("@news.example.org>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://news.example.org/bot/unsubscribe/" in msg["List-Unsubscribe"]
    assert "<mailto:digest@news.example.org?subject=unsubscribe%20" in msg["List-Unsubscribe"]
    assert msg["Subject"] == "Morning digest: 2026-11-24"
    raw = handler.received[0].data.split(b"\r\n\r\n", 1)[0].decode("ascii")  # headers: ASCII
    unsubscribe = re.search(r"^List-Unsubscribe: (.*)$", raw, re.MULTILINE)
    assert unsubscribe is not None and "=?" not in unsubscribe[1]  # no encoded words
    # The same signed token in the link and in the mailto: subject.
    found = re.fullmatch(r"<https://news\.example\.org/bot/unsubscribe/([\w.-]+)>, "
                         r"<mailto:digest@news\.example\.org\?subject=unsubscribe%20([\w.-]+)>\r?",
                         unsubscribe[1])
    assert found is not None and found[1] == found[2]
    assert "digest.news.example.org" in msg["List-Id"]


async def test_title_with_crlf_and_bcc_cannot_add_header_or_recipient(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    handler, port = smtp_server
    subject = '"{{ digest.groups[0].articles[0].article.title }}"'
    config = make_config(tmp_path, port, subject=subject)
    add_article(digest_store, 1, title="Hello\r\nBcc: victim@evil.example\r\nX-Evil: 1")
    add_subscribers(digest_store, 1)
    await run_digest(config, digest_store, "digest", RUN_AT)
    (received,) = handler.received
    msg = received.message
    assert received.rcpt_tos == ["reader0@example.com"]
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["Subject"] == "Hello Bcc: victim@evil.example X-Evil: 1"
    header_block = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in header_block and b"\r\nX-Evil:" not in header_block


async def test_feed_script_and_handlers_arrive_inert(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    hostile = ('<p onclick="steal()">Hi<script>alert(1)</script>'
               '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
               '<iframe src="https://evil.example"></iframe><b>bold</b></p>')
    # The feed's HTML says what the summary says, so the HTML part uses it, cleaned.
    handler = await _send_one(tmp_path, digest_store, smtp_server, summary_html=hostile,
                              summary="Hi x bold")
    page = handler.received[0].message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    lowered = page.lower()
    for bad in ("<script", "onerror", "onclick", "javascript:", "<iframe", "alert("):
        assert bad not in lowered, bad
    assert "<b>bold</b>" in page


async def test_css_is_inlined_and_media_queries_kept(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    handler = await _send_one(tmp_path, digest_store, smtp_server,
                              image_url="https://img.example.org/1.jpg")
    page = handler.received[0].message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "@media" in page
    assert 'style="' in page and "max-width: 568px" in page
    assert 'alt="Photo 1"' in page and 'width="568"' in page


async def test_arabic_articles_are_right_to_left(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    handler = await _send_one(tmp_path, digest_store, smtp_server, language="ar",
                              title="عنوان الخبر", section="عربي")
    page = handler.received[0].message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert 'dir="rtl"' in page and "عنوان الخبر" in page


async def test_empty_digest_is_not_sent(tmp_path: Path, digest_store: Store,
                                        smtp_server: tuple[RecordingHandler, int]) -> None:
    handler, port = smtp_server
    add_subscribers(digest_store, 3)
    outcome = await run_digest(make_config(tmp_path, port), digest_store, "digest", RUN_AT)
    assert outcome.status == "empty"
    assert handler.received == []



async def test_preview_writes_eml_and_html_and_sends_nothing(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    from bot.digest.commands import digest_preview

    handler, port = smtp_server
    add_article(digest_store, 1)
    eml, page, count = digest_preview(make_config(tmp_path, port), digest_store, "digest",
                                      tmp_path / "out", now=RUN_AT)
    assert count == 1 and handler.received == []
    assert b"List-Unsubscribe: <https://" in eml.read_bytes()
    assert "Article 1" in page.read_text(encoding="utf-8")
    assert len(digest_store.pending_digest_deliveries("digest", RUN_AT)) == 1


async def test_test_copy_goes_to_one_address_and_records_nothing(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    from bot.digest.commands import digest_send_test

    handler, port = smtp_server
    add_article(digest_store, 1)
    add_subscribers(digest_store, 3)
    await digest_send_test(make_config(tmp_path, port), digest_store, "digest",
                           "editor@example.org", now=RUN_AT)
    assert handler.by_recipient() == {"editor@example.org": 1}
    assert digest_store.digest_runs("digest") == []


def test_cli_preview_and_runs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import cli
    from bot.store import open_store

    config = tmp_path / "config.yaml"
    config.write_text(f"""
store: sqlite:///{tmp_path / 'cli.db'}
secret_key: {kit.SECRET}
sources: [{{id: en, url: feed.xml}}]
channels:
  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    schedule: {{cron: "0 7 * * *"}}
""", encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'cli.db'}")
    add_article(store, 1)
    store.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "digest", "preview", "digest",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "digest: 1 articles" in result.output
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1
    result = runner.invoke(cli, ["--config", str(config), "digest", "runs", "digest"])
    assert result.exit_code == 0 and result.output.startswith("digest: no runs yet")
