"""``newsbot subscribers …`` and ``newsbot digest …``: thin wrappers over
bot.digest.subscriber_list and bot.digest.commands.

Registered on the ``newsbot`` group by bot/cli/__init__.py. The bot.digest modules (the store,
SMTP, templates) are imported inside each command, so ``newsbot --help`` does not load them.
"""

from __future__ import annotations

import asyncio
import mailbox
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click

from bot.cli.context import Context, friendly_errors, pass_ctx
from bot.models import SUBSCRIBER_STATUSES

if TYPE_CHECKING:
    from bot.digest.confirmations import ConfirmReport


@click.group()
def subscribers() -> None:
    """Readers of the email digests: add, remove, list, count, import, confirm, export."""


@subscribers.command("add")
@click.argument("channel")
@click.argument("email")
@click.option("--pending", is_flag=True,
              help="Awaiting confirmation: the reader is sent the subscribe form's "
                   "confirmation email and receives nothing until they confirm.")
@click.option("--resubscribe", is_flag=True,
              help="A reader who unsubscribed asked to come back: send them a confirmation "
                   "email (they receive nothing until they confirm).")
@pass_ctx
@friendly_errors
def subscribers_add(ctx: Context, channel: str, email: str, pending: bool,
                    resubscribe: bool) -> None:
    """Subscribe EMAIL to the digest CHANNEL (active at once unless --pending). A reader
    who unsubscribed is refused unless --resubscribe."""
    from bot.digest.consent import add_subscriber

    with ctx.store() as store:
        added = asyncio.run(add_subscriber(
            ctx.config, store, channel, email, status="pending" if pending else "active",
            now=datetime.now(UTC), resubscribe=resubscribe))
    sub = added.subscriber
    if added.confirmation_sent:
        click.echo(f"{sub.email}: pending on {channel}; a confirmation email was sent, and "
                   "they receive the digest once they confirm")
        return
    if added.confirmation is not None:
        _say_not_sent(ctx, channel, added.confirmation)
        if added.confirmation.failed:
            sys.exit(1)
        return
    click.echo(f"{sub.email}: {sub.status} on {channel}")


def _say_not_sent(ctx: Context, channel: str, report: ConfirmReport) -> None:
    """A pending reader to whom no confirmation email went out now: why, and the command
    that sends it."""
    from bot.digest.confirmations import resend_hint

    for address in report.limited:
        click.echo(f"{address}: pending on {channel}; no confirmation email was sent now: one "
                   f"went out recently ({_limit_text(ctx)}). They receive nothing until they "
                   f"confirm; to send another later: {resend_hint(channel, [address])}",
                   err=True)
    for address, why in report.failed:
        click.echo(f"{address}: pending on {channel}, but the confirmation email was not "
                   f"sent ({why}). They receive nothing until they confirm; to send it "
                   f"again: {resend_hint(channel, [address])}", err=True)


def _limit_text(ctx: Context) -> str:
    limits = ctx.config.web.subscribe_limit
    seconds = int(limits.confirm_cooldown.total_seconds())
    every = f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"
    return (f"web.subscribe_limit allows one per {every} and {limits.confirm_per_day} a day "
            "to each reader")


@subscribers.command("remove")
@click.argument("channel")
@click.argument("email")
@pass_ctx
@friendly_errors
def subscribers_remove(ctx: Context, channel: str, email: str) -> None:
    """Forget EMAIL on CHANNEL entirely (its send history too)."""
    from bot.digest import subscriber_list as subs

    subs.email_channel(ctx.config, channel)
    with ctx.store() as store:
        removed = subs.subscribers_remove(store, channel, email)
    if not removed:
        click.echo(f"{email} is not a subscriber of {channel}", err=True)
        sys.exit(1)
    click.echo(f"{email} removed from {channel}")


@subscribers.command("list")
@click.argument("channel")
@click.option("--status", type=click.Choice(SUBSCRIBER_STATUSES), default=None)
@pass_ctx
@friendly_errors
def subscribers_list(ctx: Context, channel: str, status: str | None) -> None:
    """One line per subscriber: address, status, since."""
    from bot.digest import subscriber_list as subs

    subs.email_channel(ctx.config, channel)
    with ctx.store() as store:
        for sub in subs.subscribers_list(store, channel, status=status):
            since = sub.confirmed_at or sub.created_at
            click.echo(f"{sub.email}\t{sub.status}\t{since:%Y-%m-%d}" if since else sub.email)


@subscribers.command("count")
@click.argument("channel", required=False)
@pass_ctx
@friendly_errors
def subscribers_count(ctx: Context, channel: str | None) -> None:
    """Subscribers per digest and status."""
    from bot.digest import subscriber_list as subs

    if channel:
        subs.email_channel(ctx.config, channel)
    with ctx.store() as store:
        counts = subs.subscribers_count(store, channel)
    if not counts:
        click.echo("no subscribers")
    for name, by_status in sorted(counts.items()):
        parts = ", ".join(f"{by_status.get(s, 0)} {s}" for s in SUBSCRIBER_STATUSES)
        click.echo(f"{name}: {sum(by_status.values())} ({parts})")


@subscribers.command("import")
@click.argument("channel")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pending", is_flag=True,
              help="Import as awaiting confirmation, and send each new reader the "
                   "confirmation email (addresses already known get nothing).")
@pass_ctx
@friendly_errors
def subscribers_import(ctx: Context, channel: str, file: Path, pending: bool) -> None:
    """Import FILE.csv (an "email" column, or the first column)."""
    from bot.digest import subscriber_list as subs
    from bot.digest.confirmations import require_smtp, send_confirmations

    subs.email_channel(ctx.config, channel)
    if pending:
        require_smtp(ctx.config, channel)  # before anything is stored
    with ctx.store() as store:
        now = datetime.now(UTC)
        report = subs.subscribers_import(store, channel, file, now=now,
                                         status="pending" if pending else "active")
        sent = None
        if pending:
            new = [s for s in store.subscribers_among(channel, report.new)
                   if s.status == "pending"]
            sent = asyncio.run(send_confirmations(ctx.config, store, channel, new, now=now))
    for line, value, why in report.invalid[:20]:
        click.echo(f"{file}:{line}: skipped {value!r}: {why}", err=True)
    if len(report.invalid) > 20:
        click.echo(f"… and {len(report.invalid) - 20} more invalid rows", err=True)
    if sent is None:
        click.echo(f"{channel}: {report.line()}")
        return
    click.echo(f"{channel}: {report.line()}; the {report.added} added are pending: "
               f"{sent.line()}")
    if _say_unsent(ctx, channel, sent):
        sys.exit(1)


@subscribers.command("confirm")
@click.argument("channel")
@click.argument("emails", nargs=-1, metavar="[EMAIL]...")
@pass_ctx
@friendly_errors
def subscribers_confirm(ctx: Context, channel: str, emails: tuple[str, ...]) -> None:
    """Send pending readers of CHANNEL their confirmation email (again): each EMAIL, or
    every pending reader. Anyone sent one recently is skipped (web.subscribe_limit)."""
    from bot.digest import subscriber_list as subs
    from bot.digest.confirmations import require_smtp, send_confirmations

    require_smtp(ctx.config, channel)
    missing = False
    with ctx.store() as store:
        if emails:
            wanted = [subs.normalise_address(e) for e in emails]
            found = {s.email: s for s in store.subscribers_among(channel, wanted)}
            readers = []
            for address in dict.fromkeys(wanted):
                sub = found.get(address)
                if sub is None or sub.status != "pending":
                    missing = True
                    why = "is not a subscriber" if sub is None else f"is {sub.status}"
                    click.echo(f"{address} {why} of {channel}: nothing sent", err=True)
                else:
                    readers.append(sub)
        else:
            readers = list(store.iter_subscribers(channel, status="pending"))
        report = asyncio.run(send_confirmations(ctx.config, store, channel, readers,
                                                now=datetime.now(UTC)))
    click.echo(f"{channel}: {len(readers)} pending: {report.line()}")
    if _say_unsent(ctx, channel, report) or missing:
        sys.exit(1)


def _say_unsent(ctx: Context, channel: str, report: ConfirmReport) -> bool:
    """List the readers no confirmation went to (errors and how to retry); True when an
    email failed."""
    from bot.digest.confirmations import resend_hint

    for address, why in report.failed[:20]:
        click.echo(f"  {address}: not sent ({why})", err=True)
    if len(report.failed) > 20:
        click.echo(f"  … and {len(report.failed) - 20} more", err=True)
    if report.failed:
        click.echo("They stay pending and receive nothing until they confirm; to send theirs "
                   f"again: {resend_hint(channel, [a for a, _ in report.failed])}", err=True)
    if report.limited:
        click.echo(f"{len(report.limited)} were sent one recently ({_limit_text(ctx)}); to "
                   f"send theirs later: {resend_hint(channel, report.limited)}", err=True)
    return bool(report.failed)


@subscribers.command("export")
@click.argument("channel")
@click.option("--status", type=click.Choice(SUBSCRIBER_STATUSES), default=None)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@pass_ctx
@friendly_errors
def subscribers_export(ctx: Context, channel: str, status: str | None,
                       output: Path | None) -> None:
    """CSV of CHANNEL's subscribers (email, status, dates)."""
    from bot.digest import subscriber_list as subs

    subs.email_channel(ctx.config, channel)
    with ctx.store() as store:
        if output is None:
            subs.subscribers_export(store, channel, sys.stdout, status=status)
        else:
            with output.open("w", newline="", encoding="utf-8") as handle:
                count = subs.subscribers_export(store, channel, handle, status=status)
            click.echo(f"{count} subscribers written to {output}", err=True)


@click.group()
def digest() -> None:
    """Email digests: preview the next one, send a test copy, see past runs."""


@digest.command("preview")
@click.argument("channel")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder for the .eml and .html (default: preview_dir).")
@pass_ctx
@friendly_errors
def digest_preview(ctx: Context, channel: str, out_dir: Path | None) -> None:
    """Write the next digest as it stands now (.eml and .html); nothing is sent."""
    from bot.digest import commands as dc

    config = ctx.config
    with ctx.store() as store:
        eml, page, count = dc.digest_preview(
            config, store, channel, out_dir or config.resolve_path(config.preview_dir))
    click.echo(f"{channel}: {count} articles\n  {eml}\n  {page}")


@digest.command("send")
@click.argument("channel")
@click.option("--to", "to", required=True, help="Address that gets the test copy.")
@click.option("--allow-empty", is_flag=True, help="Send even when the digest has no articles.")
@pass_ctx
@friendly_errors
def digest_send(ctx: Context, channel: str, to: str, allow_empty: bool) -> None:
    """Send a test copy of the next digest to one address (records nothing). Its
    unsubscribe link is a test link that unsubscribes nobody."""
    from bot.digest import commands as dc

    with ctx.store() as store:
        message_id = asyncio.run(dc.digest_send_test(ctx.config, store, channel, to,
                                                     allow_empty=allow_empty))
    click.echo(f"test copy sent to {to} ({message_id})")


@digest.command("resend-unknown")
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--except", "leave_out", multiple=True, metavar="ADDRESS",
              help="Leave out a reader whose copy the relay's log shows it accepted "
                   "(repeat for each).")
@click.option("--yes", is_flag=True, help="Send without asking.")
@pass_ctx
@friendly_errors
def digest_resend_unknown(ctx: Context, run_id: int, leave_out: tuple[str, ...],
                          yes: bool) -> None:
    """Send run RUN's digest to the readers whose copy ended unknown.

    Those copies were being sent when a worker stopped: the relay may have accepted them.
    Look each Message-ID up in the relay's log first and leave out (--except) the readers
    whose copy it accepted; the others get the digest now, with the same Message-ID.
    """
    from bot.digest.resend import plan_resend, resend_unknown

    with ctx.store() as store:
        plan = plan_resend(store, run_id, leave_out=leave_out)
        for copy in plan.copies:
            click.echo(f"  {copy.subscriber.email}\t{copy.message_id}\t{copy.action}")
        click.echo(plan.summary())
        if not plan.copies:
            click.echo("nothing to send")
            return
        if not yes:
            click.echo("A copy the relay accepted has reached its reader; resending it sends a "
                       "second one. Check the relay's log for these Message-IDs first.")
            if not click.confirm(f"Send run {run_id} to {len(plan.to_send)} readers now (and "
                                 "record those left out as sent)?"):
                click.echo("nothing sent", err=True)
                sys.exit(1)
        report = asyncio.run(resend_unknown(ctx.config, store, plan))
    click.echo(report.line())
    for error in report.errors[:20]:
        click.echo(f"  {error}", err=True)
    if report.failed:
        sys.exit(1)


@digest.command("runs")
@click.argument("channel")
@click.option("--limit", default=10, show_default=True)
@pass_ctx
@friendly_errors
def digest_runs(ctx: Context, channel: str, limit: int) -> None:
    """Past runs of CHANNEL: when, how many articles, copies sent, status."""
    from bot.digest import subscriber_list as subs

    subs.email_channel(ctx.config, channel)
    zone = ctx.config.zone_for(channel)
    with ctx.store() as store:
        runs = store.digest_runs(channel, limit=limit)
        if not runs:
            click.echo(f"{channel}: no runs yet (`newsbot run` sends it on its cron; "
                       f"`newsbot digest preview {channel}` shows the next one)")
        for run in runs:
            counts = store.send_counts(run.id)
            detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no copies"
            click.echo(f"#{run.id} {run.scheduled_for.astimezone(zone):%Y-%m-%d %H:%M} "
                       f"{run.status}: {len(run.article_ids)} articles; {detail}"
                       + (f"; {run.error}" if run.error else ""))


#: sysexits' EX_TEMPFAIL: an MTA that piped the message in keeps it and tries again later.
EX_TEMPFAIL = 75


_MAIL_SOURCES = (
    click.argument("files", nargs=-1,
                   type=click.Path(exists=True, dir_okay=False, path_type=Path)),
    click.option("--maildir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                 default=None, help="Read the new messages of this Maildir, then mark them seen."),
)


def _mail_sources(func: Callable[..., None]) -> Callable[..., None]:
    for decorate in reversed(_MAIL_SOURCES):
        func = decorate(func)
    return func


@digest.command("unsubscribe-mail")
@_mail_sources
@pass_ctx
@friendly_errors
def digest_unsubscribe_mail(ctx: Context, files: tuple[Path, ...], maildir: Path | None) -> None:
    """Unsubscribe readers who mailed the List-Unsubscribe address.

    Reads messages from FILES, a --maildir, or standard input (for an MTA pipe alias). Only a
    valid token in the message unsubscribes anyone; a message without one changes nothing.
    When the store cannot be reached the exit status is 75 (EX_TEMPFAIL), so the MTA keeps
    the message and retries; with --maildir the message stays new.
    """
    from bot.digest.mail_unsubscribe import unsubscribe_by_mail

    _read_mail(ctx, files, maildir, unsubscribe_by_mail)


@digest.command("bounce-mail")
@_mail_sources
@pass_ctx
@friendly_errors
def digest_bounce_mail(ctx: Context, files: tuple[Path, ...], maildir: Path | None) -> None:
    """Count the bounces that came back to a channel's bounce_address.

    Reads messages as unsubscribe-mail does. A delivery report saying a copy failed (5.x.x)
    counts one hard bounce for that reader, once per copy; at the channel's bounce_limit the
    address is marked bounced. Delays, auto-replies and messages without a valid token
    change nothing. Exit status 75 when the store cannot be reached.
    """
    from bot.digest.bounces import bounce_by_mail

    _read_mail(ctx, files, maildir, bounce_by_mail)


class _MailResult(Protocol):
    @property
    def outcome(self) -> str: ...
    @property
    def detail(self) -> str: ...


def _read_mail(ctx: Context, files: tuple[Path, ...], maildir: Path | None,
               handle: Callable[..., _MailResult]) -> None:
    """Feed each message to ``handle(config, store, raw, now=…)``, one line of output each;
    exit 75 (and keep the message) when the store is unreachable."""
    from bot.errors import StoreError

    config = ctx.config
    try:
        store = ctx.store()
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EX_TEMPFAIL)
    with store:
        for name, raw, done in _mail_inputs(files, maildir):
            try:
                result = handle(config, store, raw, now=datetime.now(UTC))
            except StoreError as exc:
                click.echo(f"error: {name}: {exc}; the message is kept for another try",
                           err=True)
                sys.exit(EX_TEMPFAIL)
            done()
            click.echo(f"{name}: {result.outcome}: {result.detail}")


def _mail_inputs(files: tuple[Path, ...], maildir: Path | None
                 ) -> Iterator[tuple[str, bytes, Callable[[], None]]]:
    """(name, raw message, call when handled) for each message to read."""
    if maildir is not None:
        box = mailbox.Maildir(maildir, factory=None, create=False)
        for key in [k for k in box.iterkeys() if box.get_message(k).get_subdir() == "new"]:
            message = box.get_message(key)

            def seen(key: str = key, message: mailbox.MaildirMessage = message) -> None:
                message.set_subdir("cur")
                message.add_flag("S")
                box[key] = message

            yield f"maildir:{key}", message.as_bytes(), seen
    for path in files:
        yield str(path), path.read_bytes(), lambda: None
    if not files and maildir is None:
        yield "stdin", sys.stdin.buffer.read(), lambda: None
