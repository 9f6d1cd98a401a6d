"""The desk's commands: ``newsbot editors add/remove/list/passwd`` (accounts for /desk) and
``newsbot approve ID`` (the desk's Approve button, for a terminal).

Passwords are read from the terminal without echo (twice), or from standard input when it
is not a terminal, so a script can pipe one in; they never appear as arguments, which other
users of the machine could read in the process list.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime

import click

from bot.cli.context import Context
from bot.cli.context import friendly_errors as _friendly


def _now() -> datetime:
    return datetime.now(UTC)


def _read_password(prompt: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass("Again: ") != first:
        raise click.ClickException("the two passwords differ; nothing was changed")
    return first


@click.group()
def editors() -> None:
    """Accounts for the editors' desk (/desk): editor steers posts; admin also edits
    schedules and accounts."""


@editors.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["editor", "admin"]), default="editor",
              show_default=True)
@click.pass_obj
@_friendly
def add(ctx: Context, name: str, role: str) -> None:
    """Create an account; the password is asked for (or read from standard input)."""
    from bot.desk.auth import hash_password

    if not name.strip() or len(name) > 100 or any(c.isspace() for c in name):
        raise ValueError("a name is one word of at most 100 characters")
    digest = hash_password(_read_password(f"Password for {name}"))
    with ctx.store() as store:
        store.add_editor(name, digest, role, now=_now())
    click.echo(f"editor {name} ({role}) added; log in at {ctx.config.public_url}/desk/")


@editors.command("remove")
@click.argument("name")
@click.pass_obj
@_friendly
def remove(ctx: Context, name: str) -> None:
    """Delete an account (its sessions end at once)."""
    with ctx.store() as store:
        if not store.remove_editor(name):
            raise LookupError(f"no editor is named {name!r} (see `newsbot editors list`)")
    click.echo(f"editor {name} removed")


@editors.command("list")
@click.pass_obj
@_friendly
def list_(ctx: Context) -> None:
    """Accounts and their roles (never their passwords)."""
    with ctx.store() as store:
        accounts = store.list_editors()
    if not accounts:
        click.echo("no editors yet: newsbot editors add NAME --role admin")
    for account in accounts:
        click.echo(f"{account.name:<24} {account.role:<7} since "
                   f"{account.created_at:%Y-%m-%d}")


@editors.command("passwd")
@click.argument("name")
@click.pass_obj
@_friendly
def passwd(ctx: Context, name: str) -> None:
    """Set a new password; every session of the account ends."""
    from bot.desk.auth import hash_password

    digest = hash_password(_read_password(f"New password for {name}"))
    with ctx.store() as store:
        if not store.set_editor_password(name, digest, now=_now()):
            raise LookupError(f"no editor is named {name!r} (see `newsbot editors list`)")
    click.echo(f"password of {name} changed; its sessions have ended")


@click.command()
@click.argument("delivery_id", type=int)
@click.pass_obj
@_friendly
def approve(ctx: Context, delivery_id: int) -> None:
    """Let a post waiting for approval go (under its channel's schedule)."""
    import getpass as _getpass

    from bot.desk.actions import act

    with ctx.store() as store:
        result = act(store, "approve", delivery_id, by=f"cli:{_getpass.getuser()}", now=_now())
    click.echo(f"delivery {result.delivery.id} ({result.delivery.channel}): approved")
