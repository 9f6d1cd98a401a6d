"""End to end: `newsbot once` with the sample feeds posts to a local Telegram Bot API server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes import telegram_api as fake_api
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, parse_html

telegram_api = fake_api.telegram_api  # the fixture: a fresh server per test

ROOT = Path(__file__).resolve().parent.parent


def newsbot_once(api: FakeTelegramAPI, workdir: Path) -> subprocess.CompletedProcess[str]:
    config = workdir / "config.yaml"
    config.write_text(f"""
timezone: Asia/Baghdad
store: sqlite:///{workdir}/newsbot.db
preview_dir: {workdir}/preview
backfill: 3650d
fetch:
  offline_pages: {ROOT}/examples/pages
sources:
  - {{id: iraq-en, url: {ROOT}/examples/feeds/en.rss.xml, language: en}}
  - {{id: iraq-ar, url: {ROOT}/examples/feeds/ar.atom.xml, language: ar}}
channels:
  telegram-en:
    type: telegram
    token: ${{TELEGRAM_BOT_TOKEN}}
    chat: "@newsroom_en"
    api_url: {api.base_url}
    route: {{sources: [iraq-en]}}
  telegram-ar:
    type: telegram
    token: ${{TELEGRAM_BOT_TOKEN}}
    chat: "@newsroom_ar"
    api_url: {api.base_url}
    route: {{sources: [iraq-ar]}}
""", encoding="utf-8")
    env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN)
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "--verbose", "once"],
        env=env, capture_output=True, text=True, timeout=120, cwd=workdir)


def test_once_posts_every_sample_article_once_without_429_or_token_leak(
        telegram_api: FakeTelegramAPI, tmp_path: Path) -> None:
    # The dispatcher keeps Telegram's 1 message/s per chat across passes, so each pass posts
    # about one article per channel: run passes until the ten sample articles are out.
    output = ""
    for _ in range(10):
        run = newsbot_once(telegram_api, tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
        output += run.stdout + run.stderr
        if len(telegram_api.messages) >= 10:
            break
    chats = sorted(m.chat for m in telegram_api.messages)
    assert chats == ["@newsroom_ar"] * 4 + ["@newsroom_en"] * 6
    texts = [m.text or m.caption or "" for m in telegram_api.messages]
    assert len(set(texts)) == 10  # no article posted twice
    assert telegram_api.count(429) == 0
    for text in texts:
        parse_html(text)  # raises if Telegram would refuse it
    assert TOKEN not in output and TOKEN.split(":")[1] not in output

    again = newsbot_once(telegram_api, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(telegram_api.messages) == 10
