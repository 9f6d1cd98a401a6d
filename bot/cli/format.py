"""How the CLI shows things to people. Kept apart from the commands so they stay thin."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from bot.channels.registry import platform_for
from bot.config import Config, EmailChannel, Schedule, Smtp
from bot.durations import format_duration

if TYPE_CHECKING:  # the operations pull in the whole pipeline; `status` must not
    from bot.channels.online import OnlineCheck
    from bot.models import Delivery
    from bot.operations import CycleReport, StatusView
    from bot.store import Store
    from bot.template_check import TemplateCheck


def _when(moment: datetime | None, config: Config) -> str:
    if moment is None:
        return "never"
    return moment.astimezone(config.zone).strftime("%Y-%m-%d %H:%M %Z")


def describe_schedule(schedule: Schedule) -> str:
    parts = []
    if schedule.cron:
        parts.append(f"cron {schedule.cron!r}")
    if schedule.windows:
        spans = []
        for w in schedule.windows:
            end = w.end.strftime("%H:%M") if w.end else "24:00"
            days = "" if len(w.days) == 7 else " " + ",".join(
                ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in sorted(w.days))
            spans.append(f"{w.start:%H:%M}-{end}{days}")
        parts.append("windows " + "; ".join(spans))
    if schedule.quiet_days:
        parts.append("quiet " + ",".join(schedule.quiet_days))
    if schedule.min_gap.total_seconds():
        parts.append(f"gap {format_duration(schedule.min_gap)}")
    if schedule.max_per_day:
        parts.append(f"max {schedule.max_per_day}/day")
    if schedule.max_per_poll:
        parts.append(f"max {schedule.max_per_poll}/poll ({schedule.overflow})")
    if schedule.delay.total_seconds():
        parts.append(f"delay {format_duration(schedule.delay)}")
    if schedule.priority:
        parts.append("priority " + ", ".join([*schedule.priority.sections,
                                              *schedule.priority.keywords]))
    return ", ".join(parts) or "as soon as due, any time"


def print_check(config: Config, *, templates_ok: bool = True) -> None:
    """`newsbot check`: what the file means. Secret values are never printed."""
    verdict = "config OK" if templates_ok else "config.yaml is valid, but a TEMPLATE FAILS"
    click.echo(f"{verdict}: {len(config.sources)} sources, {len(config.channels)} channels")
    from bot.digest.tokens import public_url_problem, secret_key_problem
    from bot.store.base import redact_url

    for warning in (secret_key_problem(config), public_url_problem(config)):
        if warning:
            click.echo(f"WARNING: {warning}")
    click.echo(f"time zone: {config.timezone}   store: {redact_url(config.store_url)}")
    click.echo(f"backfill: {format_duration(config.backfill)}   preview folder: "
               f"{config.resolve_path(config.preview_dir)}")
    click.echo(describe_web(config))
    click.echo("\nsources:")
    for s in config.sources:
        lang = f", language {s.language}" if s.language else ""
        click.echo(f"  {s.id:<20} every {format_duration(s.every)}{lang}  {s.url}")
    click.echo("\nchannels:")
    for name, cfg in config.channels.items():
        missing = config.missing_credentials(name)
        # What each command does with it: without its secrets `once` previews its posts
        # but `run` holds them (needs attention), so "preview" alone would mislead.
        mode = ("disabled" if not cfg.enabled
                else "preview: true: posts are written to the preview folder, never sent"
                if cfg.preview
                else f"credentials missing: set {', '.join(missing)}; until then `newsbot "
                     "once` previews its posts and `newsbot run` holds them" if missing
                else "live")
        if isinstance(cfg, EmailChannel):
            target = f" from {cfg.from_}"
        else:
            where = platform_for(cfg).destination(cfg)
            target = f" → {where}" if where else ""
        click.echo(f"  {name} ({cfg.type}){target}  [{mode}]")
        r = cfg.route
        route = "; ".join(f"{k} {', '.join(v)}" for k, v in (
            ("sources", r.sources), ("sections", r.sections), ("languages", r.languages),
            ("include", r.include), ("exclude", r.exclude)) if v) or "every article"
        click.echo(f"      route: {route}")
        zone = cfg.schedule.timezone or config.timezone
        click.echo(f"      schedule ({zone}): {describe_schedule(cfg.schedule)}")
        click.echo(f"      template: {cfg.template or '(default)'}")
        if cfg.approval is not None:
            click.echo("      approval: " + ("required" if cfg.approval.required else
                                             f"window {format_duration(cfg.approval.window)}"
                                             if cfg.approval.window else ""))
        if isinstance(cfg, EmailChannel):
            click.echo(f"      smtp: {describe_smtp(cfg.smtp)}")
    print_desk(config)


def describe_web(config: Config) -> str:
    """Where ``newsbot run`` serves its pages and who may scrape /metrics (never the token)."""
    if not config.web.enabled:
        return "web: off (web.enabled: false): no pages, /healthz or /metrics"
    from bot.web.metrics_access import MetricsAccess

    return (f"web: http://{config.web.host}:{config.web.port}   "
            f"{MetricsAccess.from_environ().describe()}")


def print_desk(config: Config) -> None:
    """The desk's part of `newsbot check` (bot.desk.check; never a secret)."""
    from bot.desk.check import describe_desk

    lines = describe_desk(config)
    if lines:
        click.echo("")
    for line in lines:
        click.echo(line)


def print_templates(checks: list[TemplateCheck], sample: str) -> None:
    """`newsbot check`: each channel's template rendered for a sample, and the files used."""
    click.echo(f"\ntemplates (rendered for {sample}):")
    for check in checks:
        mark = "✗" if check.error else "✓"
        click.echo(f"  {mark} {check.channel}: {', '.join(check.files)}")
        if check.error:
            click.echo(f"      {check.error}")


def print_online(results: dict[str, OnlineCheck]) -> None:
    """`newsbot check --online`: one line per channel, what the platform said."""
    click.echo("\nonline (asked each platform; nothing was posted or sent):")
    if not results:
        click.echo("  no enabled channels")
    for name, result in results.items():
        mark = "✓" if result.ok else "✗"
        click.echo(f"  {mark} {name}: {result.message}")


def describe_smtp(smtp: Smtp) -> str:
    """Where the digest is sent and how it is protected (no credentials, not even the user)."""
    where = f"{smtp.host}:{smtp.port}" if smtp.host else "(no host)"
    parts = [where, {"starttls": "STARTTLS", "ssl": "TLS (ssl)",
                     "none": "no encryption"}[smtp.security]]
    if smtp.security != "none":
        parts.append(f"trusting {smtp.ca_file}" if smtp.ca_file else "trusting the system CAs")
    if smtp.username:
        parts.append("with AUTH")
    return ", ".join(parts)


def print_cycle(config: Config, report: CycleReport) -> None:
    for poll in report.polls:
        if not poll.ok:
            click.echo(f"✗ {poll.error}", err=True)
            continue
        if poll.not_modified:
            click.echo(f"· source {poll.source_id}: not modified since the last poll")
            continue
        line = (f"· source {poll.source_id}: {poll.new} new, {poll.known} already known"
                + (f", {poll.backfilled} older than the backfill window (not announced)"
                   if poll.backfilled else "")
                + f"; {poll.deliveries} deliveries planned")
        click.echo(line)
        for problem in poll.problems:
            click.echo(f"    ! {problem}")
    outcomes = dict(report.dispatch.outcomes)
    click.echo("· dispatch: " + (", ".join(f"{v} {k}" for k, v in sorted(outcomes.items()))
                                 or "nothing was due"))
    # A broken template leaves its posts pending (tried again every 5 minutes), not failed:
    # history would list none of them.
    broken = outcomes.get("template_error", 0)
    if report.failed_posts - broken:
        click.echo(f"✗ {report.failed_posts - broken} posts did not go: `newsbot history "
                   "--status failed` (or unknown) lists them with the platform's words",
                   err=True)
    if broken:
        click.echo(f"✗ {broken} posts wait for a template to be fixed (they stay pending): "
                   "`newsbot check` names the template, line and variable", err=True)
    if report.previews:
        click.echo("\nPREVIEW MODE: nothing was sent on these channels; posts were written to "
                   f"{config.resolve_path(config.preview_dir)}/<channel>/:")
        for name, why in report.previews.items():
            click.echo(f"  {name}: {why}")
    for name, eml, count in report.digests:
        click.echo(f"\n[preview] digest {name}: the next round-up has {count} articles; "
                   f"written to {eml} and {eml.with_suffix('.html').name}")
    digests = [n for n, c in config.channels.items() if isinstance(c, EmailChannel)]
    if digests:
        click.echo(f"\nDigests are sent on their cron by `newsbot run` ({', '.join(digests)}); "
                   "`newsbot digest preview CHANNEL` shows the next one at any time.")


def print_status(view: StatusView, *, verbose: bool = False) -> None:
    if view.reload_error:
        click.echo(f"! {view.reload_error}\n")
    if view.workers:
        click.echo("workers: " + ", ".join(
            f"{w.worker} (seen {w.seen_at:%H:%M:%S} UTC)" for w in view.workers))
    else:
        click.echo("workers: none: no `newsbot run` is running, so nothing is posted on "
                   "schedule (`newsbot once` runs one cycle)")
    click.echo("\nsources:")
    for source_id, s in view.sources:
        polled = s.last_polled_at.strftime("%Y-%m-%d %H:%M UTC") if s.last_polled_at else "never"
        health = (f"FAILING ({s.consecutive_errors} in a row): {s.last_error}" if s.failing
                  else f"ok; last poll: {s.note}" if s.note else "ok")
        click.echo(f"  {source_id:<20} last poll {polled}  {health}")
        if verbose and s.parser:
            why = f" (fastfeedparser's result not used: {s.parser_note})" if s.parser_note else ""
            click.echo(f"  {'':<20} read by {s.parser}{why}")
        activity = view.activity.get(source_id)
        if activity is not None and activity.last_new is not None:
            line = f"last new article {activity.last_new:%Y-%m-%d %H:%M} UTC"
            if activity.silent_for is not None and activity.usual_gap is not None:
                line += (f"  SILENT for {format_duration(_minutes(activity.silent_for))} "
                         f"(usually one every {format_duration(_minutes(activity.usual_gap))})"
                         "; check the feed still updates")
            click.echo(f"  {'':<20} {line}")
    click.echo("\nchannels:")
    for name, mode, state, counts in view.channels:
        flags = [mode]
        if state.paused:
            flags.append("PAUSED")
        if state.attention:
            flags.append(f"NEEDS ATTENTION: {state.attention}")
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no deliveries"
        click.echo(f"  {name:<20} {summary}  [{'; '.join(flags)}]")
    for name, counts in view.removed_channels:
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        click.echo(f"  {name:<20} {summary}  [removed from config.yaml: its rows are kept]")
    if view.spend:
        click.echo("\nspend this month (estimated from each platform's prices per post):")
        for name, posts, dollars, budget in view.spend:
            limit = f" of ${budget:.2f} budget" if budget is not None else " (no budget set)"
            click.echo(f"  {name:<20} {posts} posts, ${dollars:.2f}{limit}")
    if view.unknown:
        click.echo("\nunknown outcome (check the channel, then `newsbot retry ID` if missing):")
        for d in view.unknown:
            click.echo(f"  #{d.id} {d.channel} article {d.article_id}: {d.last_error}")


def _minutes(delta: timedelta) -> timedelta:
    return timedelta(minutes=max(1, round(delta.total_seconds() / 60)))


def print_history(config: Config, store: Store, rows: list[Delivery],
                  status: str = "sent") -> None:
    if not rows:
        click.echo("nothing has been sent yet." if status == "sent" else f"no {status} "
                   "deliveries.")
        return
    articles = store.get_articles([d.article_id for d in rows])
    for d in rows:
        title = articles[d.article_id].title if d.article_id in articles else "?"
        if d.is_correction:
            title = f"[correction {d.revision}] {title}"
        if status == "sent":
            link = d.receipt_url or d.receipt_id or "-"
            click.echo(f"{_when(d.sent_at, config)}  {d.channel:<16} {title[:60]:<60}  {link}")
            if d.note:
                click.echo(f"{'':18}{d.note}")  # e.g. why the post went out without its image
            continue
        words = d.last_error or d.note or "-"
        click.echo(f"#{d.id:<6} {_when(d.updated_at, config)}  {d.channel:<16} {title[:50]}")
        click.echo(f"        {words}")
    if status in ("failed", "unknown", "skipped") and any(
            not _cannot_edit(config, d) for d in rows):
        click.echo(f"\n`newsbot retry ID…` (or `--status {status} --channel C`) queues them "
                   "again" + ("; check the channel first: they may be out"
                              if status == "unknown" else "") + ".")
    if any(_cannot_edit(config, d) for d in rows):
        click.echo("\nA [correction] on a platform that cannot edit a sent post stays as it "
                   "is: retrying it only fails it.")


def _cannot_edit(config: Config, delivery: Delivery) -> bool:
    """A correction for a channel whose platform cannot edit a sent post."""
    cfg = config.channels.get(delivery.channel)
    return (delivery.is_correction and cfg is not None and not isinstance(cfg, EmailChannel)
            and not platform_for(cfg).capabilities.edit)
