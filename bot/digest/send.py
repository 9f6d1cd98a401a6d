"""Sending a rendered digest: a pool of reused SMTP connections, one record per recipient.

Each worker owns one aiosmtplib connection (one connection carries one message at a time, so
throughput comes from several). For each recipient it says MAIL and RCPT, then records the
copy as "sending" *before* DATA and "sent" after the server's 250. So:

- a resumed run skips every recipient that has a record: nobody gets a second copy;
- a worker stopped by an error or a cancellation finishes the copy it is sending (and records
  it) before it stops; after a hard kill at most ``pool_size`` copies are left "sending",
  which resume marks "unknown" and does not send again;
- 4xx answers and lost connections are retried with backoff on a fresh connection (the copy
  keeps its Message-ID); 5xx for a recipient counts a hard bounce, and the address becomes
  ``bounced`` after ``bounce_limit`` of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import TypeVar

import aiosmtplib

from bot import metrics
from bot.config import EmailChannel, Smtp
from bot.digest.message import CopyMaker, Recipient, RenderedDigest, from_domain, message_id
from bot.digest.smtp import SmtpSecurityError, connect, send_prepared
from bot.digest.tokens import verp_token
from bot.errors import ChannelError
from bot.store.digest_queries import DigestQueries

log = logging.getLogger(__name__)

RETRY_DELAYS: tuple[float, ...] = (1.0, 5.0, 30.0)
T = TypeVar("T")
_CONNECTION_ERRORS = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError,
                      aiosmtplib.SMTPConnectError, ConnectionError, OSError)


class SmtpUnreachableError(ChannelError):
    """No connection to the SMTP server could be made; the run stays open to resume."""


@dataclass
class SendReport:
    run_id: int
    sent: int = 0
    bounced: int = 0
    failed: int = 0
    skipped: int = 0  # already recorded by an earlier attempt at this run
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"run {self.run_id}: {self.sent} sent, {self.bounced} bounced, "
                f"{self.failed} failed, {self.skipped} already done")


async def _finish_even_if_cancelled(work: Awaitable[T]) -> T:
    """Run ``work`` to its end even when the caller is cancelled (then re-raise): a copy
    whose DATA went out must be recorded, or a resume could send it twice."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


class DigestSender:
    """Sends one rendered digest run to recipients over ``pool_size`` connections."""

    def __init__(self, store: DigestQueries, cfg: EmailChannel, rendered: RenderedDigest,
                 *, pool_size: int | None = None,
                 retry_delays: Sequence[float] = RETRY_DELAYS,
                 after_send: Callable[[Recipient], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 connector: Callable[[Smtp], Awaitable[aiosmtplib.SMTP]] = connect,
                 secret: bytes | None = None, retake_unknown: bool = False) -> None:
        self.store = store
        # resend-unknown: copies that ended "unknown" may be sent (the operator checked).
        self.retake_unknown = retake_unknown
        self.cfg = cfg
        self.rendered = rendered
        self.pool_size = pool_size or cfg.smtp.pool_size
        self.retry_delays = tuple(retry_delays)
        self.after_send = after_send
        self.clock = clock
        self.connector = connector
        self.sender = parseaddr(cfg.from_)[1]
        # With bounce_address, each copy's envelope sender carries a signed token (VERP), so
        # a bounce that comes back later names its run and reader (bot/digest/bounces.py).
        self.verp: tuple[str, str, bytes] | None = None
        if cfg.bounce_address and secret:
            local, _, domain = parseaddr(cfg.bounce_address)[1].rpartition("@")
            self.verp = (local, domain, secret)
        self.domain = from_domain(cfg.from_)
        self.report = SendReport(rendered.run_id)
        self._copies: dict[bool, CopyMaker] = {}
        self.bounced_before: set[int] = set()
        self._stopping = False  # a worker failed: the others take no new recipient

    @property
    def run_id(self) -> int:
        return self.rendered.run_id

    async def send(self, recipients: Iterable[Recipient]) -> SendReport:
        """Send to every recipient (fewer workers when there are few recipients)."""
        queue: asyncio.Queue[Recipient] = asyncio.Queue()
        for recipient in recipients:
            queue.put_nowait(recipient)
        workers = max(1, min(self.pool_size, queue.qsize()))
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(self._worker(queue))
        except BaseExceptionGroup as failed:
            # The first failure stopped the pool; the others are usually its echoes.
            for extra in failed.exceptions[1:]:
                log.warning("digest %s: worker also failed: %r", self.rendered.channel, extra)
            raise failed.exceptions[0] from None
        return self.report

    async def _worker(self, queue: asyncio.Queue[Recipient]) -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            while not queue.empty() and not self._stopping:
                recipient = queue.get_nowait()
                client = await self._deliver(client, recipient)
                if self.after_send is not None:
                    self.after_send(recipient)
        except BaseException:
            self._stopping = True
            # Stop at once (no polite QUIT): the other workers are being cancelled and
            # must not keep sending while this one waits for the server.
            if client is not None:
                client.close()
            raise
        if client is not None and client.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.quit(), 2)

    async def _fresh(self, client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP:
        if client is not None and client.is_connected:
            return client
        if client is not None:
            client.close()
        last: BaseException | None = None
        for delay in (0.0, *self.retry_delays):
            await asyncio.sleep(delay)
            try:
                return await self.connector(self.cfg.smtp)
            except SmtpSecurityError as exc:
                # A certificate that does not verify (or no STARTTLS) stays so until someone
                # changes the relay or config.yaml: say so at once instead of retrying.
                raise SmtpUnreachableError(
                    self.rendered.channel, f"cannot connect to {exc.address} securely: "
                    f"{exc.problem}. Nothing more is sent until that is fixed; the digest "
                    "will then resume from here") from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                last = exc
        raise SmtpUnreachableError(self.rendered.channel,
                                   f"cannot connect to {self.cfg.smtp.host}:{self.cfg.smtp.port} "
                                   f"({last}); the digest will resume from here")

    async def _deliver(self, client: aiosmtplib.SMTP | None,
                       recipient: Recipient) -> aiosmtplib.SMTP | None:
        """One recipient's copy, retried on 4xx and lost connections; returns the
        connection to reuse (None when it was lost)."""
        msgid = message_id(self.rendered, recipient, self.domain)
        attempts = 0
        while True:
            attempts += 1
            client = await self._fresh(client)
            copies = self._maker(client.supports_extension("8bitmime"))
            try:
                data = copies.transmission(recipient, now=self.clock())
            except ValueError as exc:
                # An address no header can carry (stored before validation was tightened,
                # or written to the store by hand): this reader fails, the others go on.
                error = f"cannot write a copy to this address: {exc}"
                self._record(recipient, msgid, "failed", error, attempts)
                self.report.failed += 1
                self.report.errors.append(f"{recipient.email}: {error}")
                return client
            stage = "MAIL"
            try:
                await client.mail(self._envelope_from(recipient),
                                  options=["BODY=8BITMIME"] if copies.needs_8bitmime else None)
                stage = "RCPT"
                await client.rcpt(recipient.email)
                stage = "DATA"
                done = await _finish_even_if_cancelled(
                    self._data(client, recipient, msgid, data, attempts))
                if not done:  # someone else holds this copy's record
                    await client.rset()
                    self.report.skipped += 1
                return client
            except aiosmtplib.SMTPResponseException as exc:
                code, text = exc.code, exc.message
                error = f"{stage}: {code} {text}"
                if stage != "DATA":
                    client = await self._reset(client)
            except _CONNECTION_ERRORS as exc:
                code, error = 0, f"{stage}: connection lost ({exc})"
                client.close()
                client = None
            if 500 <= code < 600:
                self._record(recipient, msgid, "bounced" if stage != "MAIL" else "failed",
                             error, attempts)
                if stage != "MAIL":
                    self.report.bounced += 1
                    self.store.record_hard_bounce(recipient.subscriber_id,
                                                  limit=self.cfg.bounce_limit, now=self.clock())
                else:
                    self.report.failed += 1
                    self.report.errors.append(f"{recipient.email}: {error}")
                return client
            if attempts > len(self.retry_delays):
                self._record(recipient, msgid, "failed", error, attempts)
                self.report.failed += 1
                self.report.errors.append(f"{recipient.email}: {error}")
                return client
            log.info("digest %s: %s for %s; retrying", self.rendered.channel, error,
                     recipient.email)
            await asyncio.sleep(self.retry_delays[attempts - 1])

    def _envelope_from(self, recipient: Recipient) -> str:
        if self.verp is None:
            return self.sender
        local, domain, secret = self.verp
        return f"{local}+{verp_token(secret, self.run_id, recipient.subscriber_id)}@{domain}"

    def _maker(self, eight_bit: bool) -> CopyMaker:
        if eight_bit not in self._copies:
            self._copies[eight_bit] = CopyMaker(self.rendered, self.cfg, eight_bit=eight_bit)
        return self._copies[eight_bit]

    async def _data(self, client: aiosmtplib.SMTP, recipient: Recipient, msgid: str,
                    data: bytes, attempts: int) -> bool:
        now = self.clock()
        # claim_send and finish_send run on the event loop: one single-row write each per
        # copy (well under a millisecond on PostgreSQL); at worst, SQLite behind a long
        # writer, every connection of the pool waits the busy timeout (bot/store/base.py).
        if not self.store.claim_send(self.run_id, recipient.subscriber_id, msgid, now=now,
                                     retake_unknown=self.retake_unknown):
            return False
        try:
            await send_prepared(client, data)
        except BaseException as exc:
            # The server answered (4xx/5xx) or the connection dropped: not delivered. The
            # caller decides between retry, bounce and failure; until then it may go again.
            self.store.finish_send(self.run_id, recipient.subscriber_id, "deferred",
                                   now=self.clock(), error=str(exc)[:500], attempts=attempts)
            raise
        self.store.finish_send(self.run_id, recipient.subscriber_id, "sent", now=self.clock(),
                               attempts=attempts)
        # A 250 clears earlier hard bounces, unless bounces come back later by mail (VERP):
        # then the relay accepts everything and only the bounce mail tells.
        if recipient.subscriber_id in self.bounced_before and self.verp is None:
            self.store.reset_hard_bounces(recipient.subscriber_id, now=self.clock())
        self.report.sent += 1
        metrics.digest_recipient_sent(self.rendered.channel)
        return True

    async def _reset(self, client: aiosmtplib.SMTP) -> aiosmtplib.SMTP | None:
        try:
            await client.rset()
            return client
        except (aiosmtplib.SMTPException, OSError):
            client.close()
            return None

    def _record(self, recipient: Recipient, msgid: str, status: str, error: str,
                attempts: int) -> None:
        now = self.clock()
        self.store.claim_send(self.run_id, recipient.subscriber_id, msgid, now=now,
                              retake_unknown=self.retake_unknown)
        self.store.finish_send(self.run_id, recipient.subscriber_id, status, now=now,
                               error=error[:500], attempts=attempts)
