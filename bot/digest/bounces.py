"""Bounces that come back by mail: a relay accepts a copy (250), and only later reports that
the mailbox does not exist.

With ``bounce_address: bounces@news.example.org`` each copy's envelope sender is
``bounces+<run>-<subscriber>-<mac>@news.example.org`` (VERP, signed with ``secret_key``), so
a bounce names the run and the reader it is about. ``bounce_by_mail`` reads one such
message: a delivery status notification (RFC 3464) that says the copy *failed* with a 5.x.x
status counts a hard bounce, once per copy, towards the channel's ``bounce_limit``; a delay
(4.x.x) or an auto-reply changes nothing. Only the token decides who: the report's own words
about recipients are not trusted, and a forged or altered token changes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage, Message
from typing import Literal

from bot.config import Config, EmailChannel
from bot.digest.mail_unsubscribe import parse_mail
from bot.digest.tokens import read_verp_token, secret_of
from bot.store.digest_queries import DigestQueries

log = logging.getLogger(__name__)

Outcome = Literal["bounced", "already", "soft", "not-a-bounce", "no-token", "invalid-token"]

#: Headers where the address a bounce was sent to shows up (the MTA adds one of the first
#: three on delivery; To is the report's own header).
_ADDRESSED_TO = ("Delivered-To", "X-Original-To", "Envelope-To", "To")
_TOKEN = re.compile(r"\+(\d{1,12}-\d{1,12}-[A-Za-z2-7]{16})@")


@dataclass(frozen=True)
class BounceResult:
    """What one message did. ``email`` is the stored subscriber's."""

    outcome: Outcome
    detail: str
    channel: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class _Failure:
    hard: bool
    status: str
    diagnostic: str


def _tokens(message: EmailMessage) -> list[str]:
    values = [str(v) for name in _ADDRESSED_TO for v in message.get_all(name, [])]
    return [token for value in values for token in _TOKEN.findall(value)]


def _failures(message: EmailMessage) -> list[_Failure] | None:
    """The per-recipient verdicts of a delivery status notification; None when the message
    is not one (an auto-reply, a person writing back)."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            return []
        found: list[_Failure] = []
        for block in blocks:
            if not isinstance(block, Message) or block.get("Action") is None:
                continue  # the per-message fields (Reporting-MTA …)
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            if action == "failed":
                found.append(_Failure(status.startswith("5"), status,
                                      " ".join(str(block.get("Diagnostic-Code", "")).split())))
        return found
    return None


def bounce_by_mail(config: Config, store: DigestQueries, raw: bytes, *,
                   now: datetime) -> BounceResult:
    """Count the hard bounce this message reports for the copy its VERP token names."""
    secret = secret_of(config)
    message = parse_mail(raw)
    tokens = _tokens(message)
    if not tokens:
        return BounceResult("no-token", "not addressed to a bounce_address+<token>; nothing "
                            "changed")
    claim = next((c for c in (read_verp_token(secret, t) for t in tokens) if c), None)
    if claim is None:
        return BounceResult("invalid-token", "the bounce token is not valid here (altered, "
                            "or from another installation); nothing changed")
    run_id, subscriber_id = claim
    sub = store.get_subscriber_by_id(subscriber_id)
    cfg = config.channels.get(sub.channel) if sub else None
    if sub is None or not isinstance(cfg, EmailChannel):
        return BounceResult("invalid-token", f"subscriber {subscriber_id} is no longer "
                            "stored (or its digest is gone); nothing changed")
    failures = _failures(message)
    if failures is None:
        return BounceResult("not-a-bounce", "no delivery status report in it (an auto-reply?); "
                            "nothing changed", sub.channel, sub.email)
    hard = next((f for f in failures if f.hard), None)
    if hard is None:
        return BounceResult("soft", "a delay or temporary failure; the relay is still trying, "
                            "nothing changed", sub.channel, sub.email)
    error = f"bounced after delivery: {hard.status} {hard.diagnostic}".strip()
    if not store.mark_send_bounced(run_id, subscriber_id, now=now, error=error):
        return BounceResult("already", f"run {run_id}'s copy to {sub.email} was already "
                            "counted (or never sent)", sub.channel, sub.email)
    now_bounced = store.record_hard_bounce(subscriber_id, limit=cfg.bounce_limit, now=now)
    log.info("digest %s: run %d: copy to subscriber %d bounced (%s)", sub.channel, run_id,
             subscriber_id, hard.status)
    verdict = (f"{sub.email} is now bounced (limit {cfg.bounce_limit}) and gets no more copies"
               if now_bounced else f"a hard bounce counted for {sub.email}")
    return BounceResult("bounced", f"{verdict}: {hard.status} {hard.diagnostic}".strip(),
                        sub.channel, sub.email)
