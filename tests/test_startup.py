"""`newsbot` starts at once: a command loads only what it uses.

Checked in a fresh interpreter (a subprocess), since this test process has long since
imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.feed_server import FeedServer

# Each of these takes tens to hundreds of milliseconds to import, and no command that only
# reads the store or prints help needs one.
HEAVY = ("trafilatura", "telegram", "tweepy", "aiosmtplib", "starlette")


def modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_importing_the_cli_loads_no_platform_extraction_mail_or_web_library() -> None:
    loaded = modules_after("import bot.cli")
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_help_loads_neither_the_config_model_nor_the_store() -> None:
    loaded = modules_after("import bot.cli\nimport contextlib\n"
                           "with contextlib.suppress(SystemExit):\n"
                           "    bot.cli.cli(['--help'], prog_name='newsbot')")
    assert not [m for m in loaded if m.split(".")[0] in ("pydantic", "sqlalchemy", *HEAVY)]


def test_help_still_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    for command in ("run", "once", "check", "preview", "status", "history", "retry", "serve",
                    "subscribers", "digest", "plan", "queue", "pause", "resume", "hold",
                    "release", "skip", "post-now"):
        assert f"  {command} " in out, command


def test_the_planner_loads_no_store() -> None:
    # bot.plan is pure: its input types live in bot.models, not in the store.
    assert not [m for m in modules_after("import bot.plan") if m.startswith("sqlalchemy")]


def test_status_loads_neither_the_pipeline_nor_the_web() -> None:
    loaded = modules_after("import bot.operations, bot.reload, bot.cli.format")
    assert not [m for m in loaded if m.split(".")[0] in (
        *HEAVY, "feedparser", "httpx", "jinja2", "prometheus_client")]
    assert not {"bot.dispatch", "bot.render", "bot.ingest"} & loaded


def test_a_cycle_whose_feeds_are_unchanged_loads_no_parser_extractor_or_digest(
        feed_server: FeedServer, tmp_path: Path) -> None:
    # `newsbot once` where every feed answers 304: nothing to parse, no page to read, no
    # digest to preview, so none of their libraries is worth loading.
    feed = feed_server.add("/feed.xml", "<rss version='2.0'><channel/></rss>", etag='"v1"')
    config = tmp_path / "config.yaml"
    config.write_text(f"store: sqlite:///{tmp_path / 'newsbot.db'}\nweb: {{enabled: false}}\n"
                      f"sources:\n  - {{id: news, url: '{feed}'}}\nchannels: {{}}\n")
    loaded = modules_after(
        "import asyncio\nfrom datetime import UTC, datetime\n"
        "from bot.config import load_config\nfrom bot.operations import run_cycle\n"
        "from bot.store import open_store\n"
        f"config = load_config({str(config)!r})\nstore = open_store(config.store_url)\n"
        "now = datetime.now(UTC)\n"
        "store.record_poll_success('news', now=now, next_poll_at=now, etag='\"v1\"')\n"
        "report = asyncio.run(run_cycle(config, store))\n"
        "assert [p.not_modified for p in report.polls] == [True], report.polls")
    assert not [m for m in loaded if m.split(".")[0] in (
        "trafilatura", "feedparser", "fastfeedparser", "aiosmtplib", "email_validator")]
