"""`newsbot` starts at once: a command loads only what it uses.

Checked in a fresh interpreter (a subprocess), since this test process has long since
imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

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
