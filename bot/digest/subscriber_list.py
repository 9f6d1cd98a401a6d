"""Managing an email channel's subscriber list: adding, removing, listing, counting,
importing and exporting addresses, and the address rules they share.

What the CLI (``newsbot subscribers …``), the web form and the consent flow call; sending
editions is bot/digest/commands.py.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.errors import HeaderDefect
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import TextIO

from email_validator import EmailNotValidError, validate_email

from bot.config import Config, EmailChannel
from bot.errors import ConfigError, NewsbotError
from bot.store import Store
from bot.store.subscribers import Subscriber


class SubscriberError(NewsbotError, ValueError):
    """An address or a subscribers file is not acceptable; the message says why."""


def email_channel(config: Config, name: str) -> EmailChannel:
    """The email channel ``name`` from config.yaml, or a ConfigError naming the choices."""
    cfg = config.channels.get(name)
    if not isinstance(cfg, EmailChannel):
        names = ", ".join(n for n, c in config.channels.items() if isinstance(c, EmailChannel))
        raise ConfigError(f"channels.{name}", "is not an email channel "
                          f"(email channels: {names or 'none configured'})")
    return cfg


def normalise_address(value: str) -> str:
    """A valid address in the form stored (lower case, domain in its ASCII form); no DNS
    lookups. Addresses with non-ASCII before the @ are refused: they need SMTPUTF8, which
    the digest does not use, and no header could carry them."""
    try:
        result = validate_email(value.strip(), check_deliverability=False,
                                allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"{value!r} is not a usable email address: {exc}") from None
    address = str(result.ascii_email or result.normalized).lower()
    local = address.rpartition("@")[0]
    if not _PLAIN_LOCAL.fullmatch(local) and not _survives_headers(address):
        # e.g. "=?utf-8?q?evil=40attacker.example?=@example.com": valid by RFC 5321, but a
        # To: header carrying it is decoded into another address (evil@attacker.example…).
        raise SubscriberError(f"{value!r} is not a usable email address: mail programs "
                              "would read it as a different address (it contains an "
                              "encoded header word or similar)")
    return address


#: Local parts that every header carries as they are; anything else is checked by writing it
#: into a header and reading it back (a few addresses in a large import, not all of them).
_PLAIN_LOCAL = re.compile(r"[a-z0-9._+-]+")


def _survives_headers(address: str) -> bool:
    """Whether ``address`` written into a To: header reads back as the same address."""
    try:
        message = EmailMessage(policy=policy.SMTP)
        message["To"] = Address(addr_spec=address)
        back = message_from_bytes(message.as_bytes(), policy=policy.default)
        found = [a.addr_spec for a in back["To"].addresses]
    except (ValueError, TypeError, IndexError, AttributeError, HeaderDefect):
        return False
    return found == [address]


class UnsubscribedEarlier(SubscriberError):
    """The address unsubscribed: adding it back takes the reader's own confirmation."""


def subscribers_add(store: Store, channel: str, email: str, *, status: str = "active",
                    now: datetime | None = None) -> Subscriber:
    """Add one address. An editor adding someone vouches for a new reader's consent, never
    for one who left: an unsubscribed address raises UnsubscribedEarlier (see
    bot.digest.consent for bringing them back with a confirmation)."""
    address = normalise_address(email)
    known = store.get_subscriber(channel, address)
    if known is not None and known.status == "unsubscribed":
        left = f"{known.unsubscribed_at:%Y-%m-%d}" if known.unsubscribed_at else "an earlier date"
        raise UnsubscribedEarlier(
            f"{address} unsubscribed from {channel} on {left} and is not added back. If they "
            "asked to return, use --resubscribe: they get a confirmation email and receive "
            "nothing until they confirm")
    return store.subscribe(channel, address, status=status, now=now or datetime.now(UTC))


def subscribers_remove(store: Store, channel: str, email: str) -> bool:
    """Forget an address and its send history; False when it was not subscribed."""
    try:
        address = normalise_address(email)
    except SubscriberError:
        address = email.strip().lower()
    return store.remove_subscriber(channel, address)


def subscribers_list(store: Store, channel: str, *,
                     status: str | None = None) -> Iterator[Subscriber]:
    return store.iter_subscribers(channel, status=status)


def subscribers_count(store: Store, channel: str | None = None) -> dict[str, dict[str, int]]:
    return store.count_subscribers(channel)


@dataclass
class ImportReport:
    added: int = 0
    existing: int = 0
    unsubscribed: int = 0  # they left: an import never puts them back
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, why)
    # A pending import's new readers, in file order: they are the ones to send a
    # confirmation email (bot.digest.confirmations); known addresses get nothing.
    new: list[str] = field(default_factory=list)

    def line(self) -> str:
        left = (f", {self.unsubscribed} unsubscribed earlier, not imported"
                if self.unsubscribed else "")
        return (f"{self.added} added, {self.existing} already subscribed{left}, "
                f"{len(self.invalid)} invalid")


#: Column names that hold the address: ours, Mailchimp's ("Email Address") and the like.
_EMAIL_HEADERS = ("email", "email address", "e-mail", "e-mail address", "mail",
                  "email_address")


def _header_column(first: list[str]) -> int | None:
    """The address column when ``first`` is a header row (None: it is data)."""
    lowered = [c.strip().lower() for c in first]
    for name in _EMAIL_HEADERS:
        if name in lowered:
            return lowered.index(name)
    if any("@" in cell for cell in first):
        return None  # an address: the file has no header
    return next((i for i, c in enumerate(lowered) if "mail" in c), 0)


def subscribers_import(store: Store, channel: str, path: Path, *, status: str = "active",
                       now: datetime | None = None) -> ImportReport:
    """Import a CSV file: the column headed ``email`` (or Mailchimp's ``Email Address``),
    else the first column. Bad addresses are reported by line and skipped; known ones are
    left as they are, and a reader who unsubscribed is never put back (counted apart).
    Inserts go in batches, so 100,000 rows take seconds."""
    report = ImportReport()
    seen: set[str] = set()
    good: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        first = next(rows, None)
        if first is None:
            return report
        header = _header_column(first)
        column = header or 0
        pending = [(1, first)] if header is None else []
        for number, row in [*pending, *((i, r) for i, r in enumerate(rows, start=2))]:
            if not row or not any(cell.strip() for cell in row):
                continue
            value = row[column] if column < len(row) else ""
            try:
                address = normalise_address(value)
            except SubscriberError as exc:
                report.invalid.append((number, value, str(exc)))
                continue
            if address not in seen:
                seen.add(address)
                good.append(address)
    left = store.unsubscribed_among(channel, good)
    known = ({s.email for s in store.subscribers_among(channel, good)}
             if status == "pending" else set())
    report.added = store.add_subscribers(channel, good, status=status,
                                         now=now or datetime.now(UTC))
    report.unsubscribed = len(left)
    report.existing = len(good) - report.added - report.unsubscribed
    if status == "pending":
        report.new = [address for address in good if address not in known]
    return report


def subscribers_export(store: Store, channel: str, out: TextIO, *,
                       status: str | None = None) -> int:
    """Write CSV (email, status, created, confirmed, unsubscribed); returns the row count."""
    writer = csv.writer(out)
    writer.writerow(["email", "status", "created_at", "confirmed_at", "unsubscribed_at"])
    count = 0
    for sub in store.iter_subscribers(channel, status=status):
        writer.writerow([sub.email, sub.status, _iso(sub.created_at), _iso(sub.confirmed_at),
                         _iso(sub.unsubscribed_at)])
        count += 1
    return count


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""
