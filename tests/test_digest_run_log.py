"""Each digest run logs one line an operator can read: channel, articles, copies sent,
failed, seconds."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.digest.commands import run_digest
from bot.store import Store
from tests import smtp_server as kit
from tests.smtp_server import RUN_AT, RecordingHandler, add_article, add_subscribers, make_config

smtp_server = kit.smtp_server


async def test_a_digest_run_logs_one_summary_line(
        tmp_path: Path, sqlite_store: Store, smtp_server: tuple[RecordingHandler, int],
        caplog: pytest.LogCaptureFixture) -> None:
    _, port = smtp_server
    config = make_config(tmp_path, port)
    add_article(sqlite_store, 1)
    add_article(sqlite_store, 2)
    add_subscribers(sqlite_store, 3)
    with caplog.at_level(logging.INFO):
        outcome = await run_digest(config, sqlite_store, "digest", RUN_AT)
    assert outcome.status == "sent"
    lines = [r.getMessage() for r in caplog.records if " done: " in r.getMessage()]
    assert len(lines) == 1
    assert re.fullmatch(r"digest digest: run \d+ done: 2 articles, 3 copies sent, 0 failed "
                        r"\(0 bounced\), \d+\.\ds", lines[0]), lines[0]
