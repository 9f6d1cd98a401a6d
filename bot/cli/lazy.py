"""A click group whose commands are imported when they run, not when ``newsbot`` starts.

Importing every command module to build the group cost ``newsbot status`` tens of
milliseconds for commands it never runs (the digest's mailbox and asyncio, the desk's …).
A lazy command is named by ``"module:attribute"`` and its short help is kept beside it, so
``newsbot --help`` lists it without importing it; ``tests/test_cli_lazy.py`` holds the kept
text to the command's own docstring.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from gettext import gettext as _
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    """A command known by where it lives: ``target`` is ``"module:attribute"``; ``help`` is
    the first paragraph of its help, as ``--help`` lists it."""

    target: str
    help: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    """A ``click.Group`` that also holds lazy commands, imported on first use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, LazyCommand] = {}

    def add_lazy_command(self, name: str, target: str, help: str) -> None:
        self.lazy_commands[name] = LazyCommand(target, help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(self.lazy_commands[cmd_name].load(), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As ``click.Group`` lists them, from the kept help for commands not imported yet
        (a stand-in with the same help shortens it the same way)."""
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None:
                command = click.Command(name, help=self.lazy_commands[name].help)
            if not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _command in rows)
            with formatter.section(_("Commands")):  # click's own words
                formatter.write_dl([(name, c.get_short_help_str(limit)) for name, c in rows])
