"""Confirmation emails an editor asks for: ``subscribers add --pending``, ``import --pending``
and ``subscribers confirm``.

A pending reader receives nothing until they open their confirmation link, so a reader an
editor puts in "pending" must be sent one, or they never get a digest. These are the
subscribe form's emails (same message, same signed link) under the form's limits: the right
to send is claimed in the store first (``web.subscribe_limit.confirm_cooldown`` and
``confirm_per_day``), so a reader is not mailed twice in a short time whoever asks, and a
send that fails gives it back. Many go over one SMTP connection; one refused address does
not stop the others, and stays pending for another try.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import Config, EmailChannel
from bot.digest.subscriber_list import SubscriberError, email_channel
from bot.store import Store
from bot.store.subscribers import Subscriber

if TYPE_CHECKING:
    from email.message import EmailMessage

    import aiosmtplib
    import jinja2


@dataclass(frozen=True)
class ConfirmReport:
    sent: tuple[str, ...] = ()
    limited: tuple[str, ...] = ()  # one went out recently: none now (the form's limits)
    failed: tuple[tuple[str, str], ...] = ()  # (address, why); they stay pending

    def line(self) -> str:
        parts = [f"{len(self.sent)} confirmation email{'' if len(self.sent) == 1 else 's'} "
                 "sent"]
        if self.limited:
            parts.append(f"{len(self.limited)} not sent again yet (one went out recently)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def require_smtp(config: Config, channel: str) -> EmailChannel:
    """The channel, or a SubscriberError when it has no SMTP host to send confirmations
    with: called before anything is stored, so a refusal leaves nothing half done."""
    cfg = email_channel(config, channel)
    if not cfg.smtp.host:
        raise SubscriberError(f"pending readers must be sent a confirmation email, but "
                              f"channels.{channel}.smtp.host is not set, so none can be sent; "
                              "nothing was stored. Set it, or add them without --pending")
    return cfg


def confirmation_for(config: Config, env: jinja2.Environment, secret: bytes,
                     cfg: EmailChannel, sub: Subscriber, *, now: datetime) -> EmailMessage:
    """The subscribe form's double opt-in email to ``sub``, with its signed confirm link
    (ValueError when no header can carry the address): the one way every sender builds it
    (the form, an editor's ``--pending``/``confirm``, ``--resubscribe``)."""
    from bot.digest.message import confirmation_message
    from bot.digest.tokens import confirm_url, make_token

    link = confirm_url(config, make_token(secret, "confirm", sub.channel, sub.id, now,
                                          salt=sub.token_salt))
    return confirmation_message(env, cfg, sub.channel, sub.email, link, now=now)


def resend_hint(channel: str, emails: Sequence[str] = ()) -> str:
    who = " ".join(emails) if 0 < len(emails) <= 5 else "[EMAIL ...]"
    return f"newsbot subscribers confirm {channel} {who}"


async def send_confirmations(config: Config, store: Store, channel: str,
                             subs: Sequence[Subscriber], *, now: datetime) -> ConfirmReport:
    """Send each of ``subs`` (pending readers of ``channel``) the confirmation email, over
    one connection (a new one after the relay drops it)."""
    import aiosmtplib

    from bot.digest.smtp import SmtpSecurityError, connect
    from bot.digest.tokens import secret_of
    from bot.render import make_environment

    cfg = require_smtp(config, channel)
    limits = config.web.subscribe_limit
    env = make_environment(config)
    secret = secret_of(config)
    sent: list[str] = []
    limited: list[str] = []
    failed: list[tuple[str, str]] = []
    client: aiosmtplib.SMTP | None = None
    broken = ""  # the relay cannot be reached: the rest fail with this, without retrying
    try:
        for sub in subs:
            if broken:
                failed.append((sub.email, broken))
                continue
            ticket = store.claim_confirmation(sub.id, now=now, cooldown=limits.confirm_cooldown,
                                              per_day=limits.confirm_per_day)
            if ticket is None:
                limited.append(sub.email)
                continue
            try:
                msg = confirmation_for(config, env, secret, cfg, sub, now=now)
                if client is None or not client.is_connected:
                    try:
                        client = await connect(cfg.smtp)
                    except (SmtpSecurityError, aiosmtplib.SMTPException, OSError) as exc:
                        broken = f"cannot connect to the relay ({exc})"
                        raise
                await client.send_message(msg)
            except (SmtpSecurityError, aiosmtplib.SMTPException, OSError, ValueError) as exc:
                # Not sent, so it must not count: the next try has to send one.
                store.release_confirmation(ticket)
                failed.append((sub.email, broken or str(exc)))
                continue
            sent.append(sub.email)
    finally:
        if client is not None:
            client.close()
    return ConfirmReport(tuple(sent), tuple(limited), tuple(failed))
