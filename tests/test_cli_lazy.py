"""`newsbot --help` lists the commands it has not imported exactly as it would list them
imported (bot/cli/lazy.py keeps each one's help beside its name)."""

from __future__ import annotations

import inspect

import click
import pytest

from bot.cli import cli
from bot.cli.lazy import LazyGroup


def first_paragraph(command: click.Command) -> str:
    return inspect.cleandoc(command.help or "").split("\n\n")[0]


@pytest.mark.parametrize("name", sorted(cli.lazy_commands))
def test_the_help_kept_for_a_lazy_command_is_its_own(name: str) -> None:
    entry = cli.lazy_commands[name]
    command = entry.load()
    assert command.name == name
    assert entry.help == first_paragraph(command)
    assert not command.hidden and not command.deprecated and command.short_help is None


def lazy_copy() -> LazyGroup:
    """A group like ``newsbot``'s, none of whose lazy commands has been imported."""
    group = LazyGroup("newsbot", params=cli.params, help=cli.help,
                      context_settings=cli.context_settings)
    for name, command in cli.commands.items():
        if name not in cli.lazy_commands:
            group.add_command(command, name)
    for name, entry in cli.lazy_commands.items():
        group.add_lazy_command(name, entry.target, entry.help)
    return group


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_lists_lazy_commands_as_it_lists_imported_ones(width: int) -> None:
    lazy = lazy_copy()
    eager = click.Group("newsbot", params=cli.params, help=cli.help,
                        context_settings=cli.context_settings)
    for name in lazy.list_commands(click.Context(lazy)):
        command = lazy.commands.get(name) or lazy.lazy_commands[name].load()
        eager.add_command(command, name)

    def help_text(group: click.Group) -> str:
        return group.get_help(click.Context(group, info_name="newsbot", terminal_width=width))

    listed = help_text(lazy)
    assert not set(lazy.lazy_commands) & set(lazy.commands)  # listing imported none of them
    assert listed == help_text(eager)


def test_a_lazy_command_is_imported_when_it_runs() -> None:
    group = lazy_copy()
    command = group.get_command(click.Context(group), "queue")
    assert command is not None and command.name == "queue"
    assert group.commands["queue"] is command
    assert group.get_command(click.Context(group), "no-such-command") is None
