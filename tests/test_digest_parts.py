"""The digest's HTML part says what its text part says (the chosen summary, cleaned by nh3),
keeps under Gmail's clipping size, and every copy's Message-ID is unique forever."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.digest.commands import run_digest
from bot.digest.message import HTML_LIMIT
from bot.store import Store, open_store
from tests import smtp_server as kit
from tests.smtp_server import RUN_AT, RecordingHandler, add_article, add_subscribers, make_config

smtp_server = kit.smtp_server
Server = tuple[RecordingHandler, int]
LEDE = ("Iraqi forces are conducting consecutive offensives against ISIS remnants in the "
        "desert between Anbar and Salahuddin. Twelve suspects were detained.")


def parts(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    return str(html.get_content()), str(text.get_content())


async def test_html_shows_the_same_summary_as_the_text_part_not_the_feeds_teaser(
        tmp_path: Path, sqlite_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    add_article(sqlite_store, 1, summary=LEDE,
                summary_html="<p>Click here for <b>our coverage</b> <script>x()</script></p>")
    add_subscribers(sqlite_store, 1)
    await run_digest(make_config(tmp_path, port), sqlite_store, "digest", RUN_AT)
    html, text = parts(handler.received[0].message)
    assert "Twelve suspects were detained." in text
    assert "Twelve suspects were detained." in html
    assert "our coverage" not in html and "<script" not in html


async def test_the_feeds_html_is_used_cleaned_when_it_says_the_same(
        tmp_path: Path, sqlite_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    add_article(sqlite_store, 1, summary="Oil exports reached a monthly high.",
                summary_html='<p onclick="x()">Oil <a href="https://example.org/oil">exports'
                             '</a> reached a monthly high.</p>')
    add_subscribers(sqlite_store, 1)
    await run_digest(make_config(tmp_path, port), sqlite_store, "digest", RUN_AT)
    html, _ = parts(handler.received[0].message)
    assert 'href="https://example.org/oil"' in html and "onclick" not in html


async def test_message_ids_differ_across_stores_and_test_copies(
        tmp_path: Path, smtp_server: Server) -> None:
    handler, port = smtp_server
    ids = []
    for n in range(2):  # a store started afresh a day later: run 1, reader 1 again
        store = open_store(f"sqlite:///{tmp_path / f's{n}.db'}")
        try:
            add_article(store, 1)
            add_subscribers(store, 1)
            await run_digest(make_config(tmp_path, port), store, "digest",
                             RUN_AT + timedelta(days=n))
        finally:
            store.close()
        ids.append(handler.received[-1].message["Message-ID"])
    assert ids[0] != ids[1]
    assert all(re.fullmatch(r"<digest\.digest\.1\.1\.\w+@news\.example\.org>", i) for i in ids)


async def test_two_test_copies_have_different_message_ids(
        tmp_path: Path, sqlite_store: Store, smtp_server: Server) -> None:
    from bot.digest.commands import digest_send_test

    _, port = smtp_server
    add_article(sqlite_store, 1)
    config = make_config(tmp_path, port)
    first = await digest_send_test(config, sqlite_store, "digest", "editor@example.com")
    second = await digest_send_test(config, sqlite_store, "digest", "editor@example.com")
    assert first != second


async def test_a_resumed_run_keeps_its_message_ids(
        tmp_path: Path, sqlite_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    add_article(sqlite_store, 1)
    add_subscribers(sqlite_store, 4)
    config = make_config(tmp_path, port)

    class Crash(Exception):
        pass

    def crash(_: object) -> None:
        if len(handler.received) >= 2:
            raise Crash

    with pytest.raises(Crash):
        await run_digest(config, sqlite_store, "digest", RUN_AT, after_send=crash)
    before = {m.message["Message-ID"].split(".")[-1] for m in handler.received}
    await run_digest(config, sqlite_store, "digest", RUN_AT + timedelta(minutes=3))
    after = {m.message["Message-ID"].split(".")[-1] for m in handler.received}
    assert len(before) == 1 and before == after  # one run, one id part


async def test_a_digest_over_100_kb_is_cut_with_a_link_to_the_rest(
        tmp_path: Path, sqlite_store: Store, smtp_server: Server,
        caplog: pytest.LogCaptureFixture) -> None:
    handler, port = smtp_server
    long = " ".join(["The ministry published the figures for every province."] * 7)
    for n in range(200):
        add_article(sqlite_store, n, summary=long)
    add_subscribers(sqlite_store, 1)
    config = make_config(tmp_path, port, max_articles=200)
    with caplog.at_level(logging.WARNING):
        await run_digest(config, sqlite_store, "digest", RUN_AT)
    html, text = parts(handler.received[0].message)
    assert len(html.encode()) <= HTML_LIMIT + 2000  # the reader's own links went in
    shown = html.count("<h3")
    match = re.search(r'<a href="(https://news\.example\.org/a/\d+)"[^>]*>(\d+) more articles',
                      html)
    total = text.count("https://news.example.org/a/")  # the text part has them all
    assert match is not None and shown + int(match[2]) == total and 50 < shown < total
    assert "Unsubscribe" in html  # the footer survived the cut
    assert any("over 100 KB" in r.getMessage() for r in caplog.records)
