"""The command line, ``newsbot``: one package whose imports run one way.

    context  ← commands, digest, editor, format  ← this module (which assembles the group)

``context`` holds what every command shares (the lazily loaded config, friendly errors);
``commands`` the group and the core commands (run, once, check, status, history,
serve); ``digest`` the subscribers and digest groups; ``editor`` the editors' controls
(plan, queue, pause, retry …); ``format`` how results are shown. No module here imports a heavy
library (pydantic, SQLAlchemy, telegram, trafilatura …) at module level: each command
imports what it uses when it runs, so ``newsbot --help`` starts at once.
"""

from __future__ import annotations

from bot.cli import desk, digest, editor
from bot.cli.commands import cli
from bot.cli.context import Context

__all__ = ["Context", "cli", "main"]

for _command in (digest.subscribers, digest.digest, editor.plan, editor.queue, editor.pause,
                 editor.resume, editor.hold, editor.release, editor.skip, editor.post_now,
                 editor.retry, editor.requeue,
                 desk.editors, desk.approve):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="newsbot")
