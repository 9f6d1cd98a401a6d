"""What the CLI and the scheduler call to make editions: preview, test send, and the run
itself (managing the subscriber list is bot/digest/subscriber_list.py).

``run_digest`` is the scheduler's cron job for an email channel. It is idempotent per
scheduled time: a run is keyed by (channel, the cron time it serves), so calling it again —
at start-up to catch a run missed while the bot was down, or twice by two workers — sends
each edition at most once, and resumes an edition a crash interrupted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import aiosmtplib
from apscheduler.triggers.cron import CronTrigger

from bot.config import Config, EmailChannel
from bot.digest.build import Digest, build_digest
from bot.digest.message import (
    CopyMaker,
    Recipient,
    RenderedDigest,
    from_domain,
    mailto_for,
    message_id,
    render_digest,
)
from bot.digest.send import RETRY_DELAYS, DigestSender, SendReport
from bot.digest.smtp import SmtpSecurityError
from bot.digest.subscriber_list import email_channel, normalise_address
from bot.digest.tokens import make_token, secret_of, unsubscribe_url
from bot.errors import ChannelError, NewsbotError
from bot.render import make_environment
from bot.store import Store
from bot.store.digest_runs import DigestRun

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- runs


@dataclass(frozen=True)
class DigestOutcome:
    channel: str
    status: str  # sent | empty | not-due | done-already | busy | failed
    scheduled_for: datetime | None = None
    run_id: int | None = None
    report: SendReport | None = None
    note: str = ""


def latest_fire_time(cron: str, zone: object, now: datetime,
                     within: timedelta) -> datetime | None:
    """The newest time the cron fired in (now - within, now], or None."""
    trigger = CronTrigger.from_crontab(cron, timezone=zone)
    found: datetime | None = None
    cursor = trigger.get_next_fire_time(None, now - within)
    while cursor is not None and cursor <= now:
        found = cursor
        cursor = trigger.get_next_fire_time(cursor, cursor + timedelta(seconds=1))
    return found.astimezone(UTC) if found else None


def reader_recipient(config: Config, cfg: EmailChannel, secret: bytes, channel: str,
                     subscriber_id: int, email: str, *, salt: str = "") -> Recipient:
    """A reader's copy's recipient: their address and their own unsubscribe link and mailto
    (``salt`` is the subscriber row's token_salt)."""
    token = make_token(secret, "unsubscribe", channel, subscriber_id, salt=salt)
    return Recipient(subscriber_id=subscriber_id, email=email,
                     unsubscribe_url=unsubscribe_url(config, token),
                     mailto=mailto_for(cfg, token))


def render_edition(config: Config, store: Store, channel: str, cfg: EmailChannel,
                   article_ids: list[int], scheduled_for: datetime, run: DigestRun | None
                   ) -> tuple[Digest, RenderedDigest]:
    """The edition of ``article_ids`` as ``run`` sends it (None: a preview or a test copy)."""
    by_id = store.get_articles(article_ids)
    articles = [by_id[i] for i in article_ids if i in by_id]
    digest = build_digest(channel, cfg, articles, scheduled_for=scheduled_for,
                          zone=config.zone_for(channel))
    # A run's Message-IDs carry its start time: stable when the run resumes or is resent,
    # never the same as another store's run of the same number. Run 0 (previews, test
    # copies) gets a random part, so a second test copy is not dropped as a repeat.
    id_part = f"{run.started_at:%Y%m%d%H%M%S%f}" if run is not None else ""
    return digest, render_digest(make_environment(config), digest, cfg,
                                 run_id=run.id if run is not None else 0, id_part=id_part)


async def send_run(config: Config, store: Store, run: DigestRun, *,
                   after_send: Callable[[Recipient], None] | None = None,
                   retry_delays: tuple[float, ...] | None = None,
                   pool_size: int | None = None) -> SendReport:
    """Send (or resume) ``run`` to the channel's active subscribers who have no record in
    it yet, then close the run and mark its deliveries sent."""
    started = time.monotonic()
    cfg = email_channel(config, run.channel)
    secret = secret_of(config)
    _, rendered = render_edition(config, store, run.channel, cfg, list(run.article_ids),
                                 run.scheduled_for, run)
    now = datetime.now(UTC)
    reclaimed = store.reclaim_digest_articles(run, now=now)
    if reclaimed:
        log.warning("digest %s run %d: %d of its articles had been handed back to the queue; "
                    "they are the run's again, so the next digest does not repeat them",
                    run.channel, run.id, reclaimed)
    unknown = store.settle_interrupted_sends(run.id, now=now)
    if unknown:
        log.warning("digest %s run %d: %d copies were being sent when the last worker "
                    "stopped; they are marked unknown and not sent again (check the relay's "
                    "log, then `newsbot digest resend-unknown %d`)", run.channel, run.id,
                    unknown, run.id)
    states = store.send_states(run.id)
    recipients: list[Recipient] = []
    bounced_before: set[int] = set()
    for sub in store.iter_subscribers(run.channel, status="active"):
        if states.get(sub.id, "deferred") == "deferred":
            recipients.append(reader_recipient(config, cfg, secret, run.channel, sub.id,
                                               sub.email, salt=sub.token_salt))
            if sub.hard_bounces:
                bounced_before.add(sub.id)
    sender = DigestSender(store, cfg, rendered, pool_size=pool_size, after_send=after_send,
                          retry_delays=retry_delays or RETRY_DELAYS, secret=secret)
    sender.bounced_before = bounced_before
    sender.report.skipped = len(states) - sum(1 for s in states.values() if s == "deferred")
    report = await sender.send(recipients)  # counts each copy in the metrics as it goes
    store.finish_digest_run(run, status="sent", now=datetime.now(UTC))
    # One line per run, for operators: what went out, what did not, how long it took.
    log.info("digest %s: run %d done: %d articles, %d copies sent, %d failed (%d bounced), "
             "%.1fs", run.channel, run.id, len(run.article_ids), report.sent,
             report.failed + report.bounced, report.bounced, time.monotonic() - started)
    return report


#: How long the digest lease outlives a worker that stopped renewing it. The holder renews
#: it every quarter of this while the run is alive (a heartbeat), so after a crash another
#: worker resumes the run within about this long; on a SQLite store, whose run lock proves the
#: old process dead, a restart takes the lease at once. ``newsbot run`` passes its
#: NEWSBOT_LEASE_TTL (the poll lease's TTL, default 60 s).
LEASE_TTL = timedelta(seconds=60)


def digest_lease(channel: str) -> str:
    """The name of the lease that lets one worker at a time send ``channel``'s digest."""
    return f"digest:{channel}"


async def _keep_lease(store: Store, lease: str, holder: str, ttl: timedelta) -> None:
    while True:
        await asyncio.sleep(ttl.total_seconds() / 4)
        now = datetime.now(UTC)
        taken = not await asyncio.to_thread(store.acquire_lease, lease, holder, now=now,
                                            until=now + ttl)
        if taken:
            log.warning("digest lease %s was taken by another worker", lease)


def _holder() -> str:
    # One holder per call, not per process: the cron job and the catch-up job of one
    # channel may overlap in one process, and must not both pass for the lease's holder.
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def run_digest(config: Config, store: Store, channel: str, now: datetime | None = None,
                     *, after_send: Callable[[Recipient], None] | None = None,
                     retry_delays: tuple[float, ...] | None = None,
                     lease_ttl: timedelta = LEASE_TTL) -> DigestOutcome:
    """The cron job: send the edition for the newest cron time within ``schedule.grace``
    of ``now`` unless it was handled already; first finish (or abandon, past grace) any
    edition a crash left open. Only the holder of the channel's digest lease works."""
    cfg = email_channel(config, channel)
    now = now or datetime.now(UTC)
    grace = cfg.schedule.grace
    lease, holder = digest_lease(channel), _holder()
    if not store.acquire_lease(lease, holder, now=now, until=now + lease_ttl):
        return DigestOutcome(channel, "busy", note="another worker is sending this digest")
    keeper = asyncio.get_running_loop().create_task(
        _keep_lease(store, lease, holder, lease_ttl))
    try:
        assert cfg.schedule.cron is not None  # config validation requires it
        due = latest_fire_time(cfg.schedule.cron, config.zone_for(channel), now, grace)
        resumed: SendReport | None = None
        for open_run in reversed(store.digest_runs(channel, status="sending", limit=100)):
            if now - open_run.scheduled_for <= grace:
                log.info("digest %s: resuming run %d", channel, open_run.id)
                report = await send_run(config, store, open_run, after_send=after_send,
                                        retry_delays=retry_delays)
                if open_run.scheduled_for == due:
                    resumed = report
            else:
                store.finish_digest_run(open_run, status="failed", now=now,
                                        error="abandoned: the bot was down past schedule.grace;"
                                              " its articles go in the next digest")
        if due is None:
            return DigestOutcome(channel, "not-due")
        if resumed is not None:
            return DigestOutcome(channel, "sent", scheduled_for=due, run_id=resumed.run_id,
                                 report=resumed, note="resumed after an interruption")
        if store.find_digest_run(channel, due) is not None:
            return DigestOutcome(channel, "done-already", scheduled_for=due)
        run = store.start_digest_run(channel, scheduled_for=due, now=now,
                                     max_articles=cfg.max_articles)
        if run is None:
            return DigestOutcome(channel, "done-already", scheduled_for=due)
        if run.status == "empty":
            return DigestOutcome(channel, "empty", scheduled_for=due, run_id=run.id,
                                 note="no new articles: nothing sent")
        report = await send_run(config, store, run, after_send=after_send,
                                retry_delays=retry_delays)
        return DigestOutcome(channel, "sent", scheduled_for=due, run_id=run.id, report=report)
    finally:
        keeper.cancel()
        store.release_lease(lease, holder)


# ---------------------------------------------------------------- preview and test copy


def next_digest(config: Config, store: Store, channel: str,
                now: datetime) -> tuple[Digest, RenderedDigest]:
    """The next digest of ``channel`` as it stands now, rendered; nothing is recorded."""
    cfg = email_channel(config, channel)
    pending = store.pending_digest_deliveries(channel, now)[: cfg.max_articles]
    return render_edition(config, store, channel, cfg, [a for _, a in pending], now, None)


def digest_preview(config: Config, store: Store, channel: str, out_dir: Path, *,
                   now: datetime | None = None,
                   to: str = "preview@example.invalid") -> tuple[Path, Path, int]:
    """Write the next digest as it stands now to ``out_dir`` (.eml and .html); nothing is
    sent or recorded. Its unsubscribe link is a test copy's, which unsubscribes nobody, so a
    preview needs no ``secret_key`` (the quick start has none). Returns (eml path, html
    path, article count)."""
    now = now or datetime.now(UTC)
    cfg = email_channel(config, channel)
    digest, rendered = next_digest(config, store, channel, now)
    data = CopyMaker(rendered, cfg).make(recipient_of_test_copy(config, cfg, to), now=now)
    message = message_from_bytes(data, policy=policy.SMTP)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{channel}-{now.astimezone(config.zone_for(channel)):%Y%m%d-%H%M}"
    eml, page = out_dir / f"{stem}.eml", out_dir / f"{stem}.html"
    eml.write_bytes(data)  # the bytes a subscriber would get, not a re-serialisation
    html_part = message.get_body(("html",)) if isinstance(message, EmailMessage) else None
    page.write_text(html_part.get_content() if html_part else "", encoding="utf-8")
    return eml, page, digest.article_count


#: What a test copy's unsubscribe link and mailto carry instead of a reader's token: the
#: editor sees plainly that it is a test link (it unsubscribes nobody).
TEST_COPY_TOKEN = "TEST-COPY-this-link-unsubscribes-nobody"


class EmptyDigest(NewsbotError, ValueError):
    """The next digest has no articles: a test copy would show an empty round-up."""


def recipient_of_test_copy(config: Config, cfg: EmailChannel, address: str) -> Recipient:
    """The recipient of a test copy: no reader's token, a link that says it is a test."""
    return Recipient(subscriber_id=0, email=address,
                     unsubscribe_url=unsubscribe_url(config, TEST_COPY_TOKEN),
                     mailto=mailto_for(cfg, TEST_COPY_TOKEN))


async def digest_send_test(config: Config, store: Store, channel: str, to: str, *,
                           now: datetime | None = None, allow_empty: bool = False) -> str:
    """Send one test copy of the next digest to ``to``; nothing is recorded and the
    articles stay pending. An empty digest is refused unless ``allow_empty``. Returns the
    Message-ID."""
    from bot.digest.smtp import connect

    now = now or datetime.now(UTC)
    cfg = email_channel(config, channel)
    address = normalise_address(to)
    digest, rendered = next_digest(config, store, channel, now)
    if not digest.article_count and not allow_empty:
        raise EmptyDigest(f"the next {channel} digest has no articles yet, so a test copy "
                          "would be empty; wait for articles (`newsbot digest preview "
                          f"{channel}`), or pass --allow-empty to send it anyway")
    secret_of(config)  # the real copies need it: say so now, not at 07:00
    data = CopyMaker(rendered, cfg).make(recipient_of_test_copy(config, cfg, address), now=now)
    try:
        client = await connect(cfg.smtp)
        try:
            await client.sendmail(parseaddr(cfg.from_)[1], [address], data)
        finally:
            client.close()
    except (SmtpSecurityError, aiosmtplib.SMTPException, OSError) as exc:
        raise ChannelError(channel, f"test copy to {address} not sent: "
                           f"{_smtp_problem(cfg, exc)}") from None
    return message_id(rendered, Recipient(0, address, "", ""), from_domain(cfg.from_))


def _smtp_problem(cfg: EmailChannel, exc: BaseException) -> str:
    """One line saying why the relay did not take a message, for people."""
    where = f"{cfg.smtp.host}:{cfg.smtp.port}"
    if isinstance(exc, SmtpSecurityError):
        return f"cannot connect to the relay at {where} securely: {exc.problem}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"the relay at {where} answered {exc.code} {exc.message.strip()}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        answers = "; ".join(f"{r.code} {r.message.strip()}" for r in exc.recipients)
        return f"the relay at {where} refused the address ({answers})"
    text = str(exc).strip() or type(exc).__name__
    return f"cannot reach the relay at {where}: {text}"
