"""The ``newsbot`` group and its core commands: thin wrappers over bot.operations, bot.scheduler
and friends.

Every command takes ``--config PATH`` (or ``NEWSBOT_CONFIG``). Errors an editor can fix are
printed as one clear message with a non-zero exit, never a traceback. asyncio is imported by
the commands that run an event loop: ``status`` and ``--help`` have none.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from bot.cli.collector import resume_unless_quick, settle
from bot.cli.context import Context, friendly_errors, pass_ctx, setup_logging
from bot.cli.lazy import LazyGroup


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="NEWSBOT_CONFIG",
              default=Path("config.yaml"), show_default=True, help="The editors' config file.")
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG (secrets stay redacted).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def cli(ctx: click.Context, config_path: Path, verbose: bool, log_format: str) -> None:
    """newsbot: posts a newsroom's new articles to Telegram, X, Mastodon and Bluesky, and
    sends an email digest."""
    resume_unless_quick(ctx.invoked_subcommand)
    setup_logging(verbose, log_format)
    ctx.obj = Context(config_path)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Preview every channel; send nothing.")
@pass_ctx
@friendly_errors
def run(ctx: Context, dry_run: bool) -> None:
    """Run the bot until Ctrl-C: poll sources, post on schedule, send digests."""
    import asyncio

    from bot.run import run_service
    from bot.settings import RuntimeSettings

    ctx.config  # noqa: B018 - validate before starting anything
    settings = RuntimeSettings.from_environ()  # once, here: a bad value stops the start
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_service(ctx.config_path, dry_run=dry_run, settings=settings))
    click.echo("newsbot stopped.")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Preview every channel and consume nothing.")
@pass_ctx
@friendly_errors
def once(ctx: Context, dry_run: bool) -> None:
    """One cycle: poll every source, dispatch what is due, then exit."""
    import asyncio

    from bot import metrics
    from bot.cli.format import print_cycle
    from bot.ingest.parsebudget import start_early, sure_bodies
    from bot.operations import run_cycle
    from bot.runlock import hold_run_lock
    from bot.settings import RuntimeSettings

    config = ctx.config
    # On SQLite one process at a time works the store: `once` beside a running `run` is
    # refused with the holder's name rather than racing it. Nobody scrapes this process's
    # counters, which end with it: it keeps none.
    with hold_run_lock(config.store_url, command="once"), ctx.cycle_store() as store, \
            metrics.dropped():
        # Feeds that will surely need parsing start the parser process now, beside the
        # rest of start-up (bot/ingest/parsebudget.py).
        states = store.source_states()  # read once: the poll takes them too
        start_early(sure_bodies(config.sources, states))
        # The poll's modules (the HTTP client and its stack) are imported before settle()
        # as well: they live until exit too, and frozen with the rest, the collector's
        # passes while the feeds come in never walk them (a warm cycle's time in the
        # collector: 6.5 -> 3 ms).
        import bot.ingest.poll  # noqa: F401

        settle()  # config and modules live until exit: out of the collector's passes
        report = asyncio.run(run_cycle(config, store, dry_run=dry_run, states=states,
                                       settings=RuntimeSettings.from_environ()))
    print_cycle(config, report)
    # A script must be able to tell: a source or a post that failed is exit status 1.
    if any(not p.ok for p in report.polls) or report.failed_posts:
        sys.exit(1)


@cli.command()
@click.option("--online", is_flag=True,
              help="Also ask each platform whether the credentials and target work "
                   "(nothing is posted or sent).")
@pass_ctx
@friendly_errors
def check(ctx: Context, online: bool) -> None:
    """Validate config.yaml and render every template; show sources, routes, schedules
    and missing secrets."""
    from bot.cli.format import print_check, print_templates
    from bot.template_check import check_templates, sample_article

    sample, which = sample_article(ctx.config)
    templates = check_templates(ctx.config, sample)
    print_check(ctx.config, templates_ok=all(not t.error for t in templates))
    print_templates(templates, which)
    if any(t.error for t in templates):
        sys.exit(1)
    if online:
        import asyncio

        from bot.channels.online import check_channels
        from bot.cli.format import print_online

        results = asyncio.run(check_channels(ctx.config))
        print_online(results)
        if not all(r.ok for r in results.values()):
            sys.exit(1)


@cli.command()
@click.argument("url_or_file")
@click.option("--source", default="", metavar="ID",
              help="The source the article comes from, for routing (default: the source "
                   "whose feed is on the page's host).")
@pass_ctx
@friendly_errors
def preview(ctx: Context, url_or_file: str, source: str) -> None:
    """Fetch one article (page URL or file) and print what each channel that takes it
    would get, the digest's entry included."""
    import asyncio

    from bot.preview_article import preview_article

    asyncio.run(preview_article(ctx.config, url_or_file, echo=sys.stdout, source=source))


@cli.command()
@click.option("-v", "--verbose", is_flag=True, help="Also show which parser read each feed.")
@pass_ctx
@friendly_errors
def status(ctx: Context, verbose: bool) -> None:
    """Sources (last poll, errors) and channels (deliveries by state, attention)."""
    from bot.cli.format import print_status
    from bot.operations import status as build_status
    from bot.reload import config_for_status

    # A broken edit must not blind the editor: show the configuration the bot still runs.
    config, _ = config_for_status(ctx.config_path)
    # On an existing, current SQLite file the light store answers every read without
    # SQLAlchemy (half of this command's start-up); anything else gets the full store.
    from bot.store.light import open_cycle_store

    store = open_cycle_store(config.store_url)
    try:
        print_status(build_status(config, store), verbose=verbose)
    finally:
        store.close()


@cli.command()
@click.option("--status", type=click.Choice(["sent", "failed", "unknown", "skipped"]),
              default="sent", show_default=True, help="Which deliveries to list.")
@click.option("--channel", default=None, help="Only this channel.")
@click.option("--since", default=None, metavar="DURATION",
              help="Only the last DURATION (e.g. 1d, 6h).")
@click.option("--limit", default=20, show_default=True)
@pass_ctx
@friendly_errors
def history(ctx: Context, status: str, channel: str | None, since: str | None,
            limit: int) -> None:
    """What was sent where and when, with links; or what failed, with the platform's words."""
    from bot.cli.format import print_history
    from bot.durations import parse_duration
    from bot.editor import history as find
    from bot.models import DeliveryStatus

    start = datetime.now(UTC) - parse_duration(since) if since else None
    with ctx.store() as store:
        rows = find(ctx.config, store, status=DeliveryStatus(status), channel=channel,
                    since=start, limit=limit)
        print_history(ctx.config, store, rows, status=status)


@cli.command()
@pass_ctx
@friendly_errors
def serve(ctx: Context) -> None:
    """Only the web pages: subscribe, confirm, unsubscribe, the editors' desk (and a /healthz
    that answers ok; the full /healthz and /metrics are newsbot run's). Needs secret_key."""
    import asyncio

    from bot.web.app import make_app
    from bot.web.server import make_server

    config = ctx.config
    with ctx.store() as store:
        click.echo(f"serving on http://{config.web.host}:{config.web.port} "
                   f"(public address: {config.public_url})")
        with contextlib.suppress(KeyboardInterrupt):
            app = make_app(config, store, config_path=ctx.config_path)
            asyncio.run(make_server(app, config.web).serve())
