"""Unsubscribing by email: the mailto: half of List-Unsubscribe.

Every copy's List-Unsubscribe offers ``mailto:<address>?subject=unsubscribe%20<token>``,
where the token is the same signed, per-reader, per-digest token as in the https link. Mail
clients (Gmail's and Apple Mail's "unsubscribe" buttons among them) send a message with that
subject; this module reads such a message and unsubscribes the reader the token names.

The token, not the From address, decides who is unsubscribed: From is trivially forged, and
a forged message must not take anyone off a list. A message with no valid token changes
nothing and says why. How mail reaches ``unsubscribe_by_mail`` is the operator's choice
(an MTA pipe alias, a Maildir filled by fetchmail/getmail); see ``newsbot digest
unsubscribe-mail`` and the README.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Literal

from bot.config import Config, EmailChannel
from bot.digest.tokens import names, read_token, secret_of
from bot.store.subscribers import SubscriberQueries

log = logging.getLogger(__name__)

Outcome = Literal["unsubscribed", "already", "no-token", "invalid-token"]

#: "unsubscribe <token>" anywhere in the subject or the first lines of the text (a reply
#: may add "Re:"; some clients put mailto's subject in the body). Tokens are base64url.
_TOKEN = re.compile(r"unsubscribe(?:\s|%20)+([A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,})",
                    re.IGNORECASE)
_BODY_CHARS = 4000


@dataclass(frozen=True)
class MailUnsubscribe:
    """What one message did. ``email`` is the stored subscriber's, never the sender's claim."""

    outcome: Outcome
    detail: str
    channel: str | None = None
    email: str | None = None

    @property
    def changed(self) -> bool:
        return self.outcome == "unsubscribed"


def parse_mail(raw: bytes) -> EmailMessage:
    """An incoming message, as the email package's modern API reads it."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _candidates(message: EmailMessage) -> list[str]:
    texts = [str(message.get("Subject", ""))]
    body = message.get_body(("plain",))
    if body is not None:
        # An unknown charset leaves the body out; the subject still counts.
        with contextlib.suppress(LookupError, ValueError):
            texts.append(str(body.get_content())[:_BODY_CHARS])
    return [token for text in texts for token in _TOKEN.findall(text)]


def unsubscribe_by_mail(config: Config, store: SubscriberQueries, raw: bytes, *,
                        now: datetime) -> MailUnsubscribe:
    """Unsubscribe the reader whose token this message carries; nothing else changes."""
    secret = secret_of(config)
    tokens = _candidates(parse_mail(raw))
    if not tokens:
        return MailUnsubscribe("no-token", "no 'unsubscribe <token>' in the subject or text; "
                               "nothing changed (the From address alone is not trusted)")
    for token in tokens:
        claim = read_token(secret, token, "unsubscribe")
        if claim is None:
            continue
        cfg = config.channels.get(claim.channel)
        sub = store.get_subscriber_by_id(claim.subscriber_id)
        if not isinstance(cfg, EmailChannel) or sub is None or not names(claim, sub):
            continue
        if sub.status == "unsubscribed":
            return MailUnsubscribe("already", f"{sub.email} had already left {claim.channel}",
                                   claim.channel, sub.email)
        store.unsubscribe(sub.id, now=now)
        log.info("digest %s: subscriber %d unsubscribed by mail", claim.channel, sub.id)
        return MailUnsubscribe("unsubscribed", f"{sub.email} left {claim.channel}",
                               claim.channel, sub.email)
    return MailUnsubscribe("invalid-token", "the unsubscribe token is not valid here "
                           "(altered, from another installation, or its reader was removed); "
                           "nothing changed")
