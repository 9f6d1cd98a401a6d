"""Editors' commands: plan, queue, pause/resume, hold/release, skip, post-now.

Thin wrappers over bot.editor, registered on the ``newsbot`` group by bot/cli/__init__.py.
Each opens the store, does one thing, says what it did in one line, and closes the store.
bot.editor (the planner, the store) is imported when a command runs, not for ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from bot.cli.context import Context
from bot.cli.context import friendly_errors as _friendly


def _editor(name: str) -> Callable[..., Any]:
    """bot.editor's function ``name``, imported when the command runs (not for ``--help``)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        from bot import editor

        return getattr(editor, name)(*args, **kwargs)

    return call


def _now() -> datetime:
    return datetime.now(UTC)


def _local(moment: datetime | None, zone: Any) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime("%a %d %b %H:%M %Z")


@click.command()
@click.option("--channel", default=None, help="Only this channel.")
@click.pass_obj
@_friendly
def plan(ctx: Context, channel: str | None) -> None:
    """The upcoming schedule: each channel's pending posts, when and why."""
    from bot import editor
    from bot.cli.format import describe_schedule
    from bot.plan import Why

    config = ctx.config
    # The same reads as `newsbot queue`: on an existing, current SQLite file the light store
    # answers them without SQLAlchemy (bot/store/light.py); anything else gets the full store.
    with ctx.cycle_store() as store:
        if channel is not None:
            editor.known_channel(config, store, channel)  # a typo is not "nothing pending"
        plans = editor.plan(config, store, now=_now(), channel=channel)
    if not any(p.posts for p in plans):
        click.echo("nothing is waiting to be posted.")
    for cp in plans:
        if not cp.posts and (cp.digest or cp.removed):
            continue
        cfg = config.channels.get(cp.channel)
        flags = [f"{cp.zone.key}"]
        if cfg is not None and not cp.digest:
            flags.append(describe_schedule(cfg.schedule))
            if cfg.schedule.max_per_day:
                flags.append(f"{cp.sent_today} sent today")
        if cfg is not None and not cp.digest and config.missing_credentials(cp.channel):
            flags.append("credentials missing: `newsbot run` holds these posts until they "
                         "are set (`newsbot once` previews them)")
        if cp.paused:
            flags.append("PAUSED (newsbot resume " + cp.channel + ")")
        if cp.removed:
            flags.append("REMOVED from config.yaml: pending rows are kept, nothing is sent")
        click.echo(f"\n{cp.channel}  [{'; '.join(flags)}]")
        if not cp.posts:
            click.echo("  nothing pending")
        for post in cp.posts:
            d = post.delivery
            title = cp.titles.get(d.article_id, "?")
            why = post.why.value + (f": {post.detail}" if post.detail and post.why not in (
                Why.PAUSED, Why.HELD, Why.APPROVAL) else "")
            click.echo(f"  #{d.id:<6} {_local(post.at, cp.zone):<22} {why[:48]:<48} "
                       f"{title[:60]}")


@click.command()
@click.option("--channel", default=None, help="Only this channel.")
@click.pass_obj
@_friendly
def queue(ctx: Context, channel: str | None) -> None:
    """Pending, held and awaiting-approval deliveries, with the ids the other commands
    take (APPROVE?: `newsbot approve ID` or the desk lets it go)."""
    from bot import editor
    from bot.plan import PRIORITY_HIGH

    config = ctx.config
    # On an existing, current SQLite file the light store answers every read without
    # SQLAlchemy (about half of this command's start-up); anything else gets the full store.
    with ctx.cycle_store() as store:
        if channel is not None:
            editor.known_channel(config, store, channel)  # a typo is not "the queue is empty"
        entries = editor.queue(config, store, channel=channel)
    if not entries:
        click.echo("the queue is empty.")
        return
    click.echo(f"{'id':<7} {'channel':<16} {'status':<8} {'expected (local)':<22} title")
    for e in entries:
        d = e.delivery
        mark = "pending" if d.priority >= 0 else "queued"
        status = {"held": "HELD", "awaiting": "APPROVE?"}.get(d.status.value, mark)
        if d.priority >= PRIORITY_HIGH and status == "pending":
            status = "priority"
        click.echo(f"{d.id:<7} {d.channel:<16} {status:<8} {_local(e.due_local, e.zone):<22} "
                   f"{e.title[:70]}")


def _channel_command(name: str, action: Callable[..., None], done: str, doc: str
                     ) -> click.Command:
    @click.command(name=name, help=doc)
    @click.argument("channel")
    @click.pass_obj
    @_friendly
    def command(ctx: Context, channel: str) -> None:
        with ctx.store() as store:
            action(ctx.config, store, channel, now=_now())
        click.echo(f"{channel}: {done}")

    return command


pause = _channel_command(
    "pause", _editor("pause"), "paused. Deliveries keep queueing; `newsbot resume` posts again.",
    "Stop posting on CHANNEL (all workers, survives restarts).")
resume = _channel_command(
    "resume", _editor("resume"), "resumed. Queued posts go out under its schedule.",
    "Post on CHANNEL again.")


#: What ``--status`` may pick for each bulk action (the states the action accepts).
_BULK_STATUSES = ("pending", "held", "failed", "unknown", "skipped")


def _delivery_command(name: str, action: Callable[..., Any], done: str, doc: str
                      ) -> click.Command:
    @click.command(name=name, help=doc)
    @click.argument("ids", type=int, nargs=-1)
    @click.option("--channel", default=None, help="With --status: only this channel.")
    @click.option("--status", type=click.Choice(_BULK_STATUSES), default=None,
                  help="Act on every delivery in this state (asks first).")
    @click.option("--yes", is_flag=True, help="With --status: do not ask (for scripts).")
    @click.pass_obj
    @_friendly
    def command(ctx: Context, ids: tuple[int, ...], channel: str | None, status: str | None,
                yes: bool) -> None:
        from bot import editor
        from bot.models import DeliveryStatus

        if ids and (channel or status):
            raise click.UsageError("give delivery ids, or --status (with --channel), not both")
        if not ids and not status:
            raise click.UsageError("give one or more delivery ids, or --status failed|… "
                                   "(with --channel C) to act on every one in that state")
        config = ctx.config
        with ctx.store() as store:
            chosen = list(ids)
            if status:
                rows = editor.select_deliveries(config, store, channel=channel,
                                                statuses=[DeliveryStatus(status)])
                where = f" on {channel}" if channel else ""
                if not rows:
                    click.echo(f"no {status} deliveries{where}.")
                    return
                if not yes:
                    click.confirm(f"{name} {len(rows)} {status} deliveries{where} "
                                  f"(ids {_ids(rows)})?", abort=True)
                chosen = [d.id for d in rows]
            result = editor.for_each(chosen, lambda i: action(config, store, i, now=_now()))
        for delivery in result.done:
            click.echo(f"delivery {delivery.id} ({delivery.channel}): {done}")
        for _, why in result.refused:
            click.echo(f"error: {why}", err=True)
        if result.refused:
            sys.exit(2)

    return command


def _ids(rows: list[Any]) -> str:
    shown = ", ".join(str(d.id) for d in rows[:10])
    return shown + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def _by_id(name: str) -> Callable[..., Any]:
    """bot.editor's delivery action ``name`` as (config, store, id, now=…)."""
    act = _editor(name)

    def call(config: Any, store: Any, delivery_id: int, *, now: datetime) -> Any:
        return act(store, delivery_id, now=now)

    return call


def _retry(config: Any, store: Any, delivery_id: int, *, now: datetime) -> Any:
    from bot import editor

    return editor.retry(store, delivery_id, now=now, backfill=config.backfill)


hold = _delivery_command("hold", _by_id("hold"), "held. `newsbot release ID` lets it go.",
                         "Keep pending deliveries from being posted until released.")
release = _delivery_command("release", _by_id("release"), "released; it goes at its place.",
                            "Put held deliveries back in the queue.")
skip = _delivery_command("skip", _by_id("skip"), "skipped; it will never be posted.",
                         "Never post these deliveries (they stay in history as skipped).")
post_now = _delivery_command(
    "post-now", _by_id("post_now"),
    "goes at the next dispatch tick (the daily cap and rate limits still apply).",
    "Post these deliveries at the next dispatch tick, ahead of windows and gaps.")
_RETRY_HELP = ("Queue failed, unknown or skipped deliveries again (check the channel first "
               "for unknown ones; a skipped one only while its article is within backfill).")
retry = _delivery_command("retry", _retry, "queued again.", _RETRY_HELP)
requeue = _delivery_command("requeue", _retry, "queued again.", _RETRY_HELP)
