"""End to end: `newsbot once` with a `type: bluesky` channel posts through the real pipeline
(ingest, plan, render, dispatch) to a local PDS, once, and leaves a corrected headline alone
(history says Bluesky cannot edit); `newsbot check --online` signs in without posting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from tests.fakes import bluesky_api as fake
from tests.fakes.bluesky_api import APP_PASSWORD, ENV, HANDLE, FakeBlueskyPds
from tests.feed_server import FeedServer
from tests.images import png

bluesky_api = fake.bluesky_api_fixture  # the fixture: a fresh server per test

ROOT = Path(__file__).resolve().parent.parent

FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ar"
      xmlns:media="http://search.yahoo.com/mrss/">
  <title>أخبار العراق</title>
  <id>urn:example:ar</id>
  <updated>2026-11-24T09:00:00Z</updated>
  <entry>
    <title>افتتاح محطة مياه ثانية على نهر دجلة</title>
    <id>urn:example:ar:1</id>
    <link href="{site}/ar/2026/11/water"/>
    <updated>2026-11-24T09:00:00Z</updated>
    <category term="الشرق الأوسط"/>
    <summary>ستزود المحطة نحو 600 ألف من سكان الأحياء الشرقية بالمياه النظيفة. 👨‍👩‍👧‍👦</summary>
    <media:thumbnail url="{image}"/>
  </entry>
  <entry>
    <title>جامعة الموصل تعيد فتح مكتبتها المركزية</title>
    <id>urn:example:ar:2</id>
    <link href="{site}/ar/2026/11/library"/>
    <updated>2026-11-24T08:00:00Z</updated>
    <summary>أعيد فتح المكتبة بعد ترميمها.</summary>
  </entry>
</feed>
"""


def _config(tmp_path: Path, api: FakeBlueskyPds, feed_url: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"""
timezone: Asia/Baghdad
store: sqlite:///{tmp_path}/newsbot.db
preview_dir: {tmp_path}/preview
backfill: 3650d
web: {{enabled: false}}
fetch:
  allow_private: [127.0.0.0/8]
sources:
  - {{id: iraq-ar, url: "{feed_url}", fetch_pages: never}}
channels:
  bluesky-ar:
    type: bluesky
    handle: ${{BLUESKY_HANDLE}}
    app_password: ${{BLUESKY_APP_PASSWORD}}
    api_url: {api.base_url}
""", encoding="utf-8")
    return config


def _once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "--verbose", "once"],
        env=dict(os.environ, **ENV), capture_output=True, text=True, timeout=120,
        cwd=config.parent)


def test_once_posts_each_article_once_with_card_facets_and_langs_and_never_edits(
        tmp_path: Path, bluesky_api: FakeBlueskyPds, feed_server: FeedServer) -> None:
    image = bluesky_api.add_image("water.png", png(200, 105))
    site = "https://news.example.org"
    feed_server.add("/ar.atom", FEED.format(site=site, image=image).encode())
    config = _config(tmp_path, bluesky_api, feed_server.url("/ar.atom"))

    run = _once(config)
    assert run.returncode == 0, run.stderr[-3000:]
    again = _once(config)
    assert again.returncode == 0, again.stderr[-3000:]

    posts = {p.card["uri"]: p for p in bluesky_api.posts if p.card}
    assert sorted(posts) == [f"{site}/ar/2026/11/library", f"{site}/ar/2026/11/water"]
    assert len(bluesky_api.posts) == 2  # the second run posted nothing again
    water = posts[f"{site}/ar/2026/11/water"]
    assert water.text.startswith("افتتاح محطة مياه ثانية على نهر دجلة\n\n")
    assert water.faceted() == [("#الشرق_الأوسط", "الشرق_الأوسط")]
    assert water.record["langs"] == ["ar"]  # the article's (the feed's xml:lang)
    assert water.card is not None
    assert water.card["title"] == "افتتاح محطة مياه ثانية على نهر دجلة"
    thumb = bluesky_api.blobs[water.card["thumb"]["ref"]["$link"]]
    assert thumb.data == png(200, 105)
    assert "thumb" not in posts[f"{site}/ar/2026/11/library"].card
    # One sign-in for both posts; the second run, with nothing to post, signs in not at all.
    assert bluesky_api.count("com.atproto.server.createSession") == 1
    output = run.stdout + run.stderr + again.stdout + again.stderr
    assert APP_PASSWORD not in output
    tokens = {s.authorization.removeprefix("Bearer ") for s in bluesky_api.seen
              if s.authorization}
    assert tokens and not any(token in output for token in tokens)

    # The feed corrects a headline: Bluesky cannot edit, so nothing is posted, and history
    # says why the post still shows the old one.
    corrected = FEED.replace("افتتاح محطة مياه ثانية", "افتتاح محطة مياه ثالثة")
    feed_server.add("/ar.atom", corrected.format(site=site, image=image).encode())
    third = _once(config)
    history = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "history", "--status",
         "skipped"], env=dict(os.environ, **ENV), capture_output=True, text=True,
        timeout=60, cwd=tmp_path)

    assert third.returncode == 0, third.stderr[-3000:]
    assert len(bluesky_api.posts) == 2
    assert "افتتاح محطة مياه ثالثة" in history.stdout
    assert "correction not posted: bluesky cannot edit a sent post" in history.stdout


def test_check_online_signs_in_and_reads_the_profile_without_posting(
        tmp_path: Path, bluesky_api: FakeBlueskyPds) -> None:
    config = _config(tmp_path, bluesky_api, "feed.xml")

    good = CliRunner().invoke(cli, ["--config", str(config), "check", "--online"], env=ENV)
    bad = CliRunner().invoke(cli, ["--config", str(config), "check", "--online"],
                             env={**ENV, "BLUESKY_APP_PASSWORD": "aaaa-bbbb-cccc-dddd"})

    assert good.exit_code == 0, good.output
    assert f"✓ bluesky-ar: ok: signed in as @{HANDLE} (Newsroom (test))" in good.output
    assert bad.exit_code == 1
    assert "Invalid identifier or password" in bad.output and "app password" in bad.output
    assert "aaaa-bbbb-cccc-dddd" not in bad.output
    assert bluesky_api.posts == []

