"""``newsbot digest resend-unknown RUN``: send the copies that a crash left "unknown".

When a worker dies while copies are going out, each copy it was sending ends "unknown": the
relay may have accepted it (and the reader has it) or not. A resumed run never sends those
again, because a second copy is worse than a missing one. The operator can look each one up
in the relay's log by its Message-ID, leave out the ones the relay accepted, and have the
rest sent here. A resent copy keeps its Message-ID, so a mail system that did receive the
first one may recognise the second as the same message.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Config
from bot.digest.commands import reader_recipient, render_edition
from bot.digest.send import RETRY_DELAYS, DigestSender, SendReport
from bot.digest.subscriber_list import email_channel, normalise_address
from bot.digest.tokens import secret_of
from bot.errors import NewsbotError
from bot.store import Store
from bot.store.digest_runs import DigestRun
from bot.store.subscribers import Subscriber


class ResendError(NewsbotError, LookupError):
    """The run cannot have its unknown copies resent; the message says why and what to do."""


@dataclass(frozen=True)
class UnknownCopy:
    """One reader's copy that ended unknown, and what resend-unknown will do with it."""

    subscriber: Subscriber
    message_id: str
    action: str  # "resend" | "left out" (--except) | "not active" (the reader left since)


@dataclass(frozen=True)
class ResendPlan:
    run: DigestRun
    copies: tuple[UnknownCopy, ...]

    @property
    def to_send(self) -> tuple[UnknownCopy, ...]:
        return tuple(c for c in self.copies if c.action == "resend")

    def summary(self) -> str:
        counts = {a: sum(1 for c in self.copies if c.action == a)
                  for a in ("resend", "left out", "not active")}
        return (f"run {self.run.id} ({self.run.channel}): {len(self.copies)} copies ended "
                f"unknown; {counts['resend']} to resend, {counts['left out']} left out "
                f"(--except), {counts['not active']} whose reader is no longer active")


def plan_resend(store: Store, run_id: int, *, leave_out: Collection[str] = ()) -> ResendPlan:
    """What resend-unknown would do for ``run_id``; raises ResendError when the run is not
    one whose copies may be resent (unknown id, still sending, abandoned)."""
    run = store.get_digest_run(run_id)
    if run is None:
        raise ResendError(f"digest run {run_id} does not exist; `newsbot digest runs CHANNEL` "
                          "lists the runs")
    if run.status == "sending":
        raise ResendError(f"digest run {run_id} ({run.channel}) has not finished: it resumes "
                          "on its own (the copies a crash cut off become unknown then); run "
                          "this again once `newsbot digest runs` shows it sent")
    if run.status != "sent":
        raise ResendError(f"digest run {run_id} ({run.channel}) is {run.status}: its articles "
                          "went back to the queue for the next digest, so nothing is resent")
    excluded = {_address(a) for a in leave_out}
    copies = []
    for sub, msgid in store.unknown_sends(run.id):
        action = ("left out" if sub.email in excluded
                  else "resend" if sub.status == "active" else "not active")
        copies.append(UnknownCopy(sub, msgid, action))
    return ResendPlan(run, tuple(copies))


def _address(value: str) -> str:
    try:
        return normalise_address(value)
    except ValueError:
        return value.strip().lower()


async def resend_unknown(config: Config, store: Store, plan: ResendPlan, *,
                         retry_delays: tuple[float, ...] = RETRY_DELAYS) -> SendReport:
    """Send the run's digest, as it was, to the readers ``plan`` marks for resending, and
    record the copies left out as sent (the operator found them in the relay's log), so a
    later resend does not send those. A copy another resend has taken meanwhile is not
    sent twice (it counts as already done)."""
    run = plan.run
    store.settle_unknown_sends(
        run.id, [c.subscriber.id for c in plan.copies if c.action == "left out"],
        now=datetime.now(UTC), note="accepted by the relay, says its log (resend-unknown "
                                    "--except)")
    cfg = email_channel(config, run.channel)
    secret = secret_of(config)
    _, rendered = render_edition(config, store, run.channel, cfg, list(run.article_ids),
                                 run.scheduled_for, run)
    recipients = [reader_recipient(config, cfg, secret, run.channel, c.subscriber.id,
                                   c.subscriber.email, salt=c.subscriber.token_salt)
                  for c in plan.to_send]
    sender = DigestSender(store, cfg, rendered, retry_delays=retry_delays, secret=secret,
                          retake_unknown=True, clock=lambda: datetime.now(UTC))
    report = await sender.send(recipients)
    store.recount_digest_run(run.id)
    return report
