"""The command line, ``newsbot``: one package whose imports run one way.

    context  ← commands, digest, desk, editor, format  ← this module (which assembles the group)

``context`` holds what every command shares (the lazily loaded config, friendly errors);
``commands`` the group and the core commands (run, once, check, status, history,
serve); ``digest`` the subscribers and digest groups; ``desk`` the desk's accounts and
approve; ``editor`` the editors' controls (plan, queue, pause, retry …); ``format`` how results
are shown. No module here imports a heavy library (pydantic, SQLAlchemy, asyncio, telegram,
trafilatura …) at module level: each command imports what it uses when it runs, and the
commands below are imported only when one of them runs (bot/cli/lazy.py), so ``newsbot
--help`` and ``newsbot status`` start at once.
"""

from __future__ import annotations

from bot.cli import collector
from bot.cli.commands import cli
from bot.cli.context import Context

__all__ = ["Context", "cli", "main"]

_RETRY = ("Queue failed, unknown or skipped deliveries again (check the channel first for "
          "unknown ones; a skipped one only while its article is within backfill).")

# name → where the command lives, and the first paragraph of its help (as --help lists it;
# tests/test_cli_lazy.py holds each to the command's own).
_LAZY = {
    "subscribers": ("bot.cli.digest:subscribers",
                    "Readers of the email digests: add, remove, list, count, import, confirm, "
                    "export."),
    "digest": ("bot.cli.digest:digest",
               "Email digests: preview the next one, send a test copy, see past runs."),
    "editors": ("bot.cli.desk:editors",
                "Accounts for the editors' desk (/desk): editor steers posts; admin also "
                "edits\nschedules and accounts."),
    "approve": ("bot.cli.desk:approve",
                "Let a post waiting for approval go (under its channel's schedule)."),
    "plan": ("bot.cli.editor:plan",
             "The upcoming schedule: each channel's pending posts, when and why."),
    "queue": ("bot.cli.editor:queue",
              "Pending, held and awaiting-approval deliveries, with the ids the other "
              "commands\ntake (APPROVE?: `newsbot approve ID` or the desk lets it go)."),
    "pause": ("bot.cli.editor:pause",
              "Stop posting on CHANNEL (all workers, survives restarts)."),
    "resume": ("bot.cli.editor:resume", "Post on CHANNEL again."),
    "hold": ("bot.cli.editor:hold",
             "Keep pending deliveries from being posted until released."),
    "release": ("bot.cli.editor:release", "Put held deliveries back in the queue."),
    "skip": ("bot.cli.editor:skip",
             "Never post these deliveries (they stay in history as skipped)."),
    "post-now": ("bot.cli.editor:post_now",
                 "Post these deliveries at the next dispatch tick, ahead of windows and gaps."),
    "retry": ("bot.cli.editor:retry", _RETRY),
    "requeue": ("bot.cli.editor:requeue", _RETRY),
}

for _name, (_target, _help) in _LAZY.items():
    cli.add_lazy_command(_name, _target, _help)


def main() -> None:
    collector.pause()  # until the command is known (bot/cli/collector.py)
    try:
        cli(prog_name="newsbot")
    finally:
        collector.skip_final_collections()
