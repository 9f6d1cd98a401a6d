"""Consent that holds: an editor cannot quietly put back a reader who left.

`newsbot subscribers add` vouches for a new reader's consent, but a reader who unsubscribed
said no, and only they can say yes again. So an unsubscribed address is refused (naming the
day they left) unless ``--resubscribe`` is given, and then the reader gets a new double
opt-in confirmation email, exactly as from the subscribe form: nothing is sent to them
until they confirm. A new reader added as pending gets the same email
(bot.digest.confirmations): pending with no way to confirm would be never.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.config import Config
from bot.digest.confirmations import (
    ConfirmReport,
    confirmation_for,
    require_smtp,
    send_confirmations,
)
from bot.digest.subscriber_list import (
    SubscriberError,
    email_channel,
    normalise_address,
    subscribers_add,
)
from bot.store import Store
from bot.store.subscribers import Subscriber


@dataclass(frozen=True)
class Added:
    subscriber: Subscriber
    confirmation_sent: bool = False  # a returning reader: they must confirm first
    # A reader added as pending: what became of their confirmation email.
    confirmation: ConfirmReport | None = None


async def add_subscriber(config: Config, store: Store, channel: str, email: str, *,
                         status: str, now: datetime, resubscribe: bool = False) -> Added:
    """Add ``email`` to ``channel`` (``status`` active or pending). An address that
    unsubscribed is refused unless ``resubscribe``; then it becomes pending and gets a
    confirmation email, never active directly."""
    cfg = email_channel(config, channel)
    address = normalise_address(email)
    known = store.get_subscriber(channel, address)
    if known is None or known.status != "unsubscribed" or not resubscribe:
        if status != "pending":
            return Added(subscribers_add(store, channel, address, status=status, now=now))
        if known is None or known.status != "unsubscribed":  # else subscribers_add refuses
            require_smtp(config, channel)  # before anything is stored
        stored = subscribers_add(store, channel, address, status=status, now=now)
        report = await send_confirmations(config, store, channel, [stored], now=now)
        return Added(stored, confirmation_sent=bool(report.sent), confirmation=report)
    if not cfg.smtp.host:
        raise SubscriberError(f"{address} unsubscribed earlier and must confirm again, but "
                              f"channels.{channel}.smtp.host is not set, so no confirmation "
                              "email can be sent")
    await send_confirmation(config, known, now=now)
    # Pending only once the email is out: a reader who never got it stays unsubscribed.
    store.set_subscriber_status(known.id, "pending", now=now, allowed_from=["unsubscribed"])
    sub = store.get_subscriber(channel, address)
    assert sub is not None
    return Added(sub, confirmation_sent=True)


async def send_confirmation(config: Config, sub: Subscriber, *, now: datetime) -> None:
    """Send ``sub`` the double opt-in email the subscribe form sends."""
    import aiosmtplib

    from bot.digest.smtp import SmtpSecurityError, connect
    from bot.digest.tokens import secret_of
    from bot.render import make_environment

    cfg = email_channel(config, sub.channel)
    msg = confirmation_for(config, make_environment(config), secret_of(config), cfg, sub,
                           now=now)
    try:
        client = await connect(cfg.smtp)
        try:
            await client.send_message(msg)
        finally:
            client.close()
    except (SmtpSecurityError, aiosmtplib.SMTPException, OSError) as exc:
        raise SubscriberError(f"the confirmation email to {sub.email} was not sent ({exc}); "
                              "they stay unsubscribed. Fix the digest's smtp: settings and "
                              "try again") from None
