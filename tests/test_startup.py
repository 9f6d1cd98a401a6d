"""`newsbot` starts at once: a command loads only what it uses.

Checked in a fresh interpreter (a subprocess), since this test process has long since
imported everything.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.ingest.parsebudget import QUEUE_AFTER
from tests.feed_server import FeedServer

# Each of these takes tens to hundreds of milliseconds to import, and no command that only
# reads the store or prints help needs one.
HEAVY = ("trafilatura", "telegram", "tweepy", "aiosmtplib", "starlette")


def modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def run_newsbot(project: Path, *args: str, status: int = 0) -> dict[str, Any]:
    """Run ``newsbot ARGS`` (its entry point, bot.cli.main) in a fresh interpreter against
    ``project``, which must exit with ``status``; what it had loaded at exit, the garbage
    collector's state then, and how many collector passes ran once the command line started
    and before anything was frozen (``early_passes``: its start-up's)."""
    report = project / "exit.json"
    code = ("import atexit, gc, json, sys\n"
            "early = []\n"
            "def report():\n"
            f"    with open({str(report)!r}, 'w') as out:\n"
            "        json.dump({'modules': sorted(sys.modules), 'gc_enabled': gc.isenabled(),\n"
            "                   'frozen': gc.get_freeze_count(), 'early_passes': len(early)},\n"
            "                  out)\n"
            "atexit.register(report)\n"
            "def count(phase, info):\n"
            "    if phase == 'start' and not gc.get_freeze_count():\n"
            "        early.append(info['generation'])\n"
            f"sys.argv = ['newsbot', *{list(args)!r}]\n"
            "from bot.cli import main\n"
            "gc.callbacks.append(count)\n"
            "main()\n")
    env = {**os.environ, "NEWSBOT_CONFIG": str(project / "config.yaml")}
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == status, done.stderr[-2000:]
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return data


# What a read-only view of the store never needs: the pipeline's libraries (HTTP, feed
# parsing, templates, metrics), the other commands' modules, and the PostgreSQL dialect for a
# SQLite store.
NOT_FOR_VIEWS = (*HEAVY, "feedparser", "fastfeedparser", "httpx", "jinja2", "prometheus_client",
                 "lxml", "nh3", "aiosqlite", "mailbox")
NOT_FOR_VIEWS_BOT = ("bot.dispatch", "bot.render", "bot.ingest", "bot.outlets", "bot.digest",
                     "bot.web", "bot.desk", "bot.cli.digest", "bot.cli.desk")


@pytest.mark.parametrize("command", ["status", "queue"])
def test_a_view_of_the_store_loads_only_the_config_and_the_store(project: Path,
                                                                 command: str) -> None:
    loaded = set(run_newsbot(project, command)["modules"])
    assert "bot.store" in loaded  # it did run
    assert not [m for m in loaded if m.split(".")[0] in NOT_FOR_VIEWS]
    assert not [m for m in loaded for b in NOT_FOR_VIEWS_BOT if m == b or m.startswith(b + ".")]
    assert "sqlalchemy.dialects.postgresql" not in loaded


def test_status_on_a_new_or_existing_sqlite_store_loads_no_sqlalchemy(project: Path) -> None:
    # The first `newsbot status` finds no store file and makes it as the migrations would
    # (bot/store/fresh_sqlite.py); both runs read it through the light store
    # (bot/store/light.py), which answers every read status makes without SQLAlchemy, about
    # half of this command's start-up.
    for _ in ("new", "existing"):
        loaded = set(run_newsbot(project, "status")["modules"])
        assert "bot.store.status_sql" in loaded  # it did read the store
        assert not [m for m in loaded if m.split(".")[0] == "sqlalchemy"]


@pytest.mark.parametrize("command", ["queue", "plan"])
def test_queue_and_plan_on_a_new_or_existing_sqlite_store_load_no_sqlalchemy(
        project: Path, command: str) -> None:
    # As status: the first run makes the store, and every run reads it through the light
    # store, which answers every read `newsbot queue` and `newsbot plan` make.
    for args in ([command], [command], [command, "--channel", "telegram-en"]):
        loaded = set(run_newsbot(project, *args)["modules"])
        assert "bot.store.queue_sql" in loaded  # it did read the store
        assert not [m for m in loaded if m.split(".")[0] == "sqlalchemy"], args


def test_help_loads_no_command_module_and_no_event_loop(project: Path) -> None:
    loaded = set(run_newsbot(project, "--help")["modules"])
    assert not {"asyncio", "bot.cli.digest", "bot.cli.desk", "bot.cli.editor"} & loaded


def test_a_quick_view_runs_without_the_cycle_collector_and_skips_it_at_exit(
        project: Path) -> None:
    state = run_newsbot(project, "status")
    assert not state["gc_enabled"] and state["frozen"] > 0


def test_other_commands_turn_the_cycle_collector_back_on(project: Path) -> None:
    # `newsbot once` may work through thousands of items: its reference cycles are collected.
    state = run_newsbot(project, "check")
    assert state["gc_enabled"] and state["frozen"] > 0


def test_once_starts_up_without_the_cycle_collector_and_works_with_it(
        feed_server: FeedServer, tmp_path: Path) -> None:
    # Everything `newsbot once` builds before it polls (click, pydantic, the config models,
    # config.yaml) lives until exit: no collector pass runs before it is frozen (settle),
    # and the cycle's own items are collected after.
    feed = feed_server.add("/feed.xml", "<rss version='2.0'><channel/></rss>", etag='"v1"')
    (tmp_path / "config.yaml").write_text(
        f"store: sqlite:///{tmp_path / 'newsbot.db'}\nweb: {{enabled: false}}\n"
        f"sources:\n  - {{id: news, url: '{feed}'}}\nchannels: {{}}\n")
    state = run_newsbot(tmp_path, "once")
    assert state["early_passes"] == 0
    assert state["gc_enabled"] and state["frozen"] > 0
    # A command without a start-up of its own to freeze turns it on at once, as before.
    assert run_newsbot(tmp_path, "check")["early_passes"] > 0


def test_a_service_keeps_the_full_clean_up_at_exit() -> None:
    out = subprocess.run([sys.executable, "-c", (
        "import gc\nfrom bot.cli import collector\ncollector.pause()\n"
        "collector.resume_unless_quick('run')\ncollector.skip_final_collections()\n"
        "print(gc.isenabled(), gc.get_freeze_count())")],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["True", "0"]


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


def test_a_cycle_whose_feeds_are_unchanged_loads_no_parser_extractor_digest_templates_or_metrics(
        feed_server: FeedServer, tmp_path: Path) -> None:
    # `newsbot once` where every feed answers 304: nothing to parse, no page to read, no
    # digest to preview, no post to render and no counter to bump, so none of their
    # libraries is worth loading.
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
        "trafilatura", "feedparser", "fastfeedparser", "aiosmtplib", "email_validator",
        "jinja2", "prometheus_client")]


def test_a_warm_cycle_on_sqlite_with_nothing_new_loads_neither_sqlalchemy_nor_a_sender(
        feed_server: FeedServer, tmp_path: Path) -> None:
    # The first `newsbot once` makes the store (bot/store/fresh_sqlite.py) and stores each
    # feed's item and etag, as the benchmark's cold run does, through the light store; the
    # second finds every feed unchanged and no post due: the light store (bot/store/light.py)
    # answers it. Neither imports SQLAlchemy (a fifth of a second of a warm run), and with
    # nothing to send the Telegram channel's sender (python-telegram-bot) is never built.
    # (The feeds' one item is years old: stored, never announced, so never sent.)
    # As many feeds as start the parser process before the poll when none can answer 304
    # (bot/ingest/parsebudget.py start_early): the cold run starts it, the warm one must not.
    urls = [feed_server.add(f"/{n}.xml", _ONE_ITEM, etag=f'"v{n}"')
            for n in range(QUEUE_AFTER)]
    sources = ", ".join(f"{{id: s{n}, url: '{url}', fetch_pages: never}}"
                        for n, url in enumerate(urls))
    (tmp_path / "config.yaml").write_text(
        f"store: sqlite:///{tmp_path / 'newsbot.db'}\nweb: {{enabled: false}}\n"
        f"sources: [{sources}]\n"
        "channels:\n  tg: {type: telegram, chat: '@c', token: '123:not-a-real-token'}\n")
    cold = set(run_newsbot(tmp_path, "once")["modules"])
    assert "bot.store.fresh_sqlite" in cold  # it made the store
    assert "bot.store.poll_write" in cold  # and stored the feeds' items
    assert not [m for m in cold if m.split(".")[0] == "sqlalchemy"]
    assert "prometheus_client" not in cold  # a cycle nobody scrapes keeps no counts
    warm = set(run_newsbot(tmp_path, "once")["modules"])
    assert "bot.ingest.poll" in warm  # it did poll
    assert not [m for m in warm if m.split(".")[0] in ("sqlalchemy", "telegram")]
    # Nor, with no body to parse and no post due, the parser's pool, queue and message
    # format (with pickle), the planner, the dispatcher or a channel's base and preview
    # types: imported where first used, each costs a warm cycle a millisecond or more.
    assert not WARM_CYCLE_NEVER & warm, WARM_CYCLE_NEVER & warm
    assert "bot.ingest.parsepool" in cold and "bot.plan" in cold  # the cold one did need them
    assert "bot.ingest.parseworker" in cold
    asked = [r.headers.get("if-none-match") for r in feed_server.requests if r.path == "/0.xml"]
    assert asked == [None, '"v0"']  # and the second run asked for it as unchanged


def test_a_cold_cycle_on_an_existing_sqlite_store_stores_every_item_without_sqlalchemy(
        feed_server: FeedServer, tmp_path: Path) -> None:
    # Every item new, no channel: the light store looks each feed's items up, writes the
    # round's batches (a savepoint a feed) and the failed feed's record over sqlite3, with
    # the full store's own code (bot/store/poll_write.py); SQLAlchemy is never imported.
    feeds = [feed_server.add(f"/{n}.xml", _items(n, 30), etag=f'"v{n}"') for n in range(4)]
    sources = ", ".join(f"{{id: s{n}, url: '{url}', fetch_pages: never}}"
                        for n, url in enumerate(feeds))
    (tmp_path / "config.yaml").write_text(
        f"store: sqlite:///{tmp_path / 'newsbot.db'}\nbackfill: 3650d\n"
        f"web: {{enabled: false}}\nsources: [{sources}, "
        f"{{id: gone, url: '{feed_server.url('/missing.xml')}'}}]\nchannels: {{}}\n")
    created = set(run_newsbot(tmp_path, "status")["modules"])  # makes the store
    assert "bot.store.fresh_sqlite" in created
    loaded = set(run_newsbot(tmp_path, "once", status=1)["modules"])  # 1: a source failed
    assert "bot.store.poll_write" in loaded  # it did write
    assert not [m for m in loaded if m.split(".")[0] == "sqlalchemy"]
    with sqlite3.connect(tmp_path / "newsbot.db") as db:
        guids = {guid for (guid,) in db.execute("SELECT guid FROM articles")}
        sources_seen = dict(db.execute("SELECT id, consecutive_errors FROM sources"))
    assert guids == {f"{n}-{i}" for n in range(4) for i in range(30)}
    assert sources_seen == {"s0": 0, "s1": 0, "s2": 0, "s3": 0, "gone": 1}


def _items(feed: int, count: int) -> str:
    return ("<rss version='2.0'><channel><title>t</title>" + "".join(
        f"<item><title>Story {feed}-{i}</title><link>https://news.example.org/{feed}/{i}</link>"
        f"<guid>{feed}-{i}</guid><pubDate>Mon, 30 Nov 2026 08:00:00 +0000</pubDate></item>"
        for i in range(count)) + "</channel></rss>")


WARM_CYCLE_NEVER = {"bot.ingest.parsepool", "bot.ingest.parsequeue", "bot.ingest.parseworker",
                    "pickle", "bot.plan", "bot.dispatch", "bot.channels.base",
                    "bot.channels.preview"}

_ONE_ITEM = ("<rss version='2.0'><channel><title>t</title><item><title>One</title>"
             "<link>https://news.example.org/1</link><guid>1</guid>"
             "<pubDate>Mon, 02 Jan 2017 08:00:00 +0000</pubDate></item></channel></rss>")


def test_the_parser_process_loads_no_http_client_config_models_or_store() -> None:
    # What a parser process imports before it says it is ready (bot/ingest/parseworker.py):
    # it parses feed bodies and cleans their items, so a poll waits for nothing more. An
    # HTTP client and the config models doubled its start-up, all of it before the first
    # feed could be parsed there.
    loaded = modules_after("import bot.ingest.enrich, bot.ingest.parse, bot.ingest.parseworker")
    assert "fastfeedparser" in loaded  # it is ready to parse
    assert not [m for m in loaded if m.split(".")[0] in (
        "httpx", "httpcore", "pydantic", "sqlalchemy", "trafilatura", "jinja2")]
