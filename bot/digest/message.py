"""The digest as email: rendered once per run, then one MIME message per recipient.

The HTML and text bodies are rendered (and the CSS inlined) once; per-recipient parts (the
unsubscribe link, the address in the footer) are placeholders replaced for each copy. Every
header is set through ``email.message.EmailMessage`` with ``policy.SMTP``: nothing is built
by string concatenation, and values that come from feeds or editors are cleaned of CR, LF
and other control characters before they reach a header.
"""

from __future__ import annotations

import binascii
import html
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any

import css_inline
import jinja2

from bot.config import EmailChannel
from bot.digest.build import Digest, trim
from bot.errors import TemplateError
from bot.render import render_template

log = logging.getLogger(__name__)


class _DigestPolicy(EmailPolicy):
    """``policy.SMTP`` with header parsing and folding memoised: a digest sets the same
    From, Subject and List-Id on thousands of copies. Validation is unchanged (a value
    with CR or LF still raises: failures are never cached)."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is str:
            return _parse_header(name, value)
        return super().header_store_parse(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() in _UNFOLDED:
            return _fold_wide(name, value)
        return _fold_header(name, value)


#: Headers whose value is a list of URLs or ids: folding a URL longer than a line makes the
#: email package fall back to RFC 2047 encoded words, which mail clients do not decode
#: there. They are ASCII and well under the 998-octet line limit, so they stay on one line.
_UNFOLDED = frozenset({"list-unsubscribe", "list-unsubscribe-post", "message-id", "list-id"})


_SMTP: EmailPolicy = policy.SMTP  # type: ignore[assignment]


@lru_cache(maxsize=2048)
def _parse_header(name: str, value: str) -> tuple[str, Any]:
    return _SMTP.header_store_parse(name, value)


@lru_cache(maxsize=2048)
def _fold_header(name: str, value: Any) -> bytes:
    return _SMTP.fold_binary(name, value)


_WIDE: EmailPolicy = _SMTP.clone(max_line_length=998)


def _fold_wide(name: str, value: Any) -> bytes:
    return _WIDE.fold_binary(name, value)


POLICY = _DigestPolicy(linesep="\r\n")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def header_text(value: str, limit: int = 200) -> str:
    """One line of plain text fit for a header: control characters become spaces."""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def from_domain(from_: str) -> str:
    address = parseaddr(from_)[1]
    domain = address.rpartition("@")[2]
    if not address or not domain:
        raise TemplateError(f"email from: {from_!r} has no address with a domain")
    return domain


@dataclass(frozen=True)
class RenderedDigest:
    """A digest's bodies with placeholders for the per-recipient parts."""

    channel: str
    run_id: int
    subject: str
    html: str
    text: str
    marker_unsubscribe: str
    marker_email: str
    boundary: str  # fixed per run, checked absent from both bodies
    id_part: str = ""  # in every Message-ID of the run: the run's start time, or random


@dataclass(frozen=True)
class Recipient:
    subscriber_id: int
    email: str
    unsubscribe_url: str
    mailto: str  # the List-Unsubscribe mailto: address


#: Gmail clips a message whose HTML passes about 102 KB, hiding the rest, the unsubscribe
#: link included; the HTML part is kept under this (the per-copy links add a few hundred).
HTML_LIMIT = 100_000


def render_digest(env: jinja2.Environment, digest: Digest, cfg: EmailChannel, *,
                  run_id: int, id_part: str = "") -> RenderedDigest:
    """Render subject, HTML (CSS inlined) and text once for the whole run.

    ``id_part`` makes the run's Message-IDs unique forever (the run's start time; a random
    one by default, for previews and test copies). An HTML part over HTML_LIMIT is cut to
    the articles that fit, with an "N more articles" link; the text part keeps them all.
    """
    nonce = secrets.token_hex(8)
    marker_unsub = f"nbx-unsubscribe-{nonce}"
    marker_email = f"nbx-email-{nonce}"
    base = cfg.template or "email/digest"

    def render(shown: Digest, suffix: str) -> str:
        context = {"digest": shown, "groups": shown.groups, "channel": shown.channel,
                   "unsubscribe_url": marker_unsub, "recipient": marker_email}
        return render_template(env, f"{base}.{suffix}", context, channel=shown.channel)

    html_body = _INLINER.inline(render(digest, "html.j2"))
    if len(html_body.encode("utf-8")) > HTML_LIMIT:
        html_body = _cut_to_fit(digest, lambda shown: _INLINER.inline(render(shown, "html.j2")),
                                len(html_body.encode("utf-8")))
    text_body = render(digest, "txt.j2")
    try:
        subject = env.from_string(cfg.subject).render(
            digest=digest, channel=digest.channel, count=digest.article_count)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"channel {digest.channel}: subject template: {exc}") from None
    return RenderedDigest(
        channel=digest.channel, run_id=run_id, subject=header_text(subject) or cfg.title,
        html=html_body, text=text_body + "\n",
        marker_unsubscribe=marker_unsub, marker_email=marker_email,
        boundary=f"=_newsbot_{nonce}_=", id_part=id_part or secrets.token_hex(8),
    )


def _cut_to_fit(digest: Digest, render: Callable[[Digest], str], size: int) -> str:
    """The HTML of the most articles that fit under HTML_LIMIT (at least the first)."""
    low, high = 1, digest.article_count - 1
    best = render(trim(digest, 1))
    kept = 1
    while low <= high:
        middle = (low + high) // 2
        html_body = render(trim(digest, middle))
        if len(html_body.encode("utf-8")) <= HTML_LIMIT:
            best, kept, low = html_body, middle, middle + 1
        else:
            high = middle - 1
    log.warning("digest %s: the HTML part would be %d KB, over %d KB (Gmail clips at 102 "
                "KB): it shows %d of %d articles and links to the rest; the text part has "
                "them all", digest.channel, size // 1000, HTML_LIMIT // 1000, kept,
                digest.article_count)
    return best


def message_id(rendered: RenderedDigest, recipient: Recipient, domain: str) -> str:
    """Unique forever, and stable per (run, recipient): a copy resent after a lost
    connection keeps its id, so mailbox providers can fold the duplicate. The run's own part
    (its start time) keeps ids apart across stores and test copies, which all have run 0."""
    return (f"<digest.{rendered.channel}.{rendered.run_id}.{recipient.subscriber_id}."
            f"{rendered.id_part}@{domain}>")


def list_id(cfg: EmailChannel, channel: str, domain: str) -> str:
    if cfg.list_id:
        return header_text(cfg.list_id)
    return f"{header_text(cfg.title, 80)} <{channel}.{domain}>"


def _run_headers(rendered: RenderedDigest, cfg: EmailChannel) -> EmailMessage:
    """The headers every copy of a run shares."""
    domain = from_domain(cfg.from_)
    msg = EmailMessage(policy=POLICY)
    msg["MIME-Version"] = "1.0"
    msg["From"] = cfg.from_
    if cfg.reply_to:
        msg["Reply-To"] = cfg.reply_to
    msg["Subject"] = rendered.subject
    msg["List-Id"] = list_id(cfg, rendered.channel, domain)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Precedence"] = "bulk"
    msg["Content-Type"] = f'multipart/alternative; boundary="{rendered.boundary}"'
    return msg


def _recipient_headers(rendered: RenderedDigest, recipient: Recipient, domain: str,
                       now: datetime) -> EmailMessage:
    """The headers that differ per copy: To (that recipient alone), Date, Message-ID and
    the recipient's own unsubscribe link."""
    msg = EmailMessage(policy=POLICY)
    msg["To"] = Address(addr_spec=recipient.email)
    msg["Date"] = format_datetime(now.replace(microsecond=0))
    msg["Message-ID"] = message_id(rendered, recipient, domain)
    msg["List-Unsubscribe"] = f"<{recipient.unsubscribe_url}>, <{recipient.mailto}>"
    return msg


def _folded(msg: EmailMessage) -> bytes:
    return b"".join(POLICY.fold_binary(name, value) for name, value in msg.items())


# The per-copy headers for everyday values, without a round trip through the email package
# (which costs more than the rest of a copy). Only values these patterns accept take this
# path: plain ASCII addresses and ids, URLs with no space, quote, comma, angle bracket or
# "=?" (which could read as an encoded word), and lines short enough that policy.SMTP would
# not fold them. For those, policy.SMTP writes exactly these bytes (a test holds both paths
# to the same output); anything else goes through EmailMessage.
_PLAIN_ADDRESS = re.compile(r"(?a)[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
                            r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\Z")
_PLAIN_MSGID = re.compile(r"(?a)<[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
                          r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+>\Z")
_PLAIN_URL = re.compile(r"[\x21\x23-\x2b\x2d-\x3b\x3d\x3f-\x7e]+\Z")


def _plain_recipient_head(recipient: Recipient, msgid: str, date: str) -> bytes | None:
    to = f"To: {recipient.email}\r\n"
    unsubscribe = f"List-Unsubscribe: <{recipient.unsubscribe_url}>, <{recipient.mailto}>\r\n"
    if not (len(to) <= 80 and _PLAIN_ADDRESS.match(recipient.email)
            and _PLAIN_MSGID.match(msgid) and len(msgid) < 980
            and len(unsubscribe) <= 1000 and "=?" not in unsubscribe
            and _PLAIN_URL.match(recipient.unsubscribe_url) and _PLAIN_URL.match(recipient.mailto)):
        return None
    return f"{to}Date: {date}\r\nMessage-ID: {msgid}\r\n{unsubscribe}".encode("ascii")


#: Lines longer than this (before a recipient's link goes in) make a part quoted-printable.
_EIGHT_BIT_LINE = 800


class _EncodedBody:
    """One body (text or HTML) encoded once per run, line by line.

    "8bit" (when the server takes 8BITMIME and every line is short) sends the UTF-8 lines as
    they are: a tenth of the lines a receiving server must read. Otherwise quoted-printable,
    which encodes each line on its own too. Either way only the lines holding a recipient's
    link or address are encoded again for each copy.

    Each shared line is also kept dot-stuffed (RFC 5321 4.5.2), so the copy handed to SMTP
    DATA needs no per-copy pass over the whole message.
    """

    def __init__(self, body: str, markers: tuple[str, ...], *, eight_bit: bool) -> None:
        self.markers = markers
        raw = body.replace("\r", "").split("\n")
        self.cte = "8bit" if eight_bit and all(
            len(line.encode("utf-8")) <= _EIGHT_BIT_LINE for line in raw) else "quoted-printable"
        self.lines: list[bytes | str] = [
            line if any(m in line for m in markers) else self._encode_line(line) for line in raw]
        self.stuffed: list[bytes | str] = [
            dot_stuff(line) if isinstance(line, bytes) else line for line in self.lines]

    def _encode_line(self, line: str) -> bytes:
        if self.cte == "8bit":
            return line.encode("utf-8")
        # binascii is C; the email package's own encoder is pure Python and would cost more
        # than everything else in a copy. Soft breaks come back as "=\n": SMTP wants CRLF.
        return binascii.b2a_qp(line.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")

    def encode(self, values: tuple[str, ...], *, stuffed: bool = False) -> bytes:
        out: list[bytes] = []
        for line in self.stuffed if stuffed else self.lines:
            if isinstance(line, str):
                for marker, value in zip(self.markers, values, strict=True):
                    line = line.replace(marker, value)
                encoded = self._encode_line(line)
                out.append(dot_stuff(encoded) if stuffed else encoded)
            else:
                out.append(line)
        return b"\r\n".join(out)


def dot_stuff(chunk: bytes) -> bytes:
    """Double the dot that starts any line of ``chunk`` (CRLF-separated lines), so no line
    of the message can read as SMTP's end-of-data mark."""
    chunk = chunk.replace(b"\r\n.", b"\r\n..")
    return b"." + chunk if chunk.startswith(b".") else chunk


#: The end of DATA; every copy already ends with CRLF (the closing boundary line).
END_OF_DATA = b".\r\n"


def _part_head(subtype: str, cte: str) -> bytes:
    part = EmailMessage(policy=POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = cte
    return b"".join(POLICY.fold_binary(k, v) for k, v in part.items()) + b"\r\n"


class CopyMaker:
    """Makes each recipient's copy as wire bytes (``policy.SMTP``, CRLF).

    Every header goes through ``EmailMessage`` and is folded by ``policy.SMTP`` (validated,
    never concatenated from raw strings); the multipart frame and the body lines that are the
    same for everyone are encoded once per run. ``eight_bit`` only when the server announced
    8BITMIME (then say ``BODY=8BITMIME`` in MAIL FROM when ``needs_8bitmime``).
    """

    def __init__(self, rendered: RenderedDigest, cfg: EmailChannel, *,
                 eight_bit: bool = False) -> None:
        self.rendered = rendered
        self.cfg = cfg
        markers = (rendered.marker_unsubscribe, rendered.marker_email)
        self.text = _EncodedBody(rendered.text, markers, eight_bit=eight_bit)
        self.html = _EncodedBody(rendered.html, markers, eight_bit=eight_bit)
        self.needs_8bitmime = "8bit" in (self.text.cte, self.html.cte)
        boundary = rendered.boundary.encode("ascii")
        self.open_text = b"--" + boundary + b"\r\n" + _part_head("plain", self.text.cte)
        self.open_html = b"\r\n--" + boundary + b"\r\n" + _part_head("html", self.html.cte)
        self.close = b"\r\n--" + boundary + b"--\r\n"
        self.domain = from_domain(cfg.from_)
        self.shared_head = _folded(_run_headers(rendered, cfg))
        self._date: tuple[datetime | None, str] = (None, "")  # the Date value of this second

    def make(self, recipient: Recipient, *, now: datetime) -> bytes:
        """The copy as an RFC 5322 message (what a preview writes and a reader's client
        parses)."""
        return self._copy(recipient, now, stuffed=False)

    def transmission(self, recipient: Recipient, *, now: datetime) -> bytes:
        """The same copy as SMTP DATA carries it: dot-stuffed and ending with the
        end-of-data line. Every line already ends in CRLF."""
        return self._copy(recipient, now, stuffed=True) + END_OF_DATA

    def _copy(self, recipient: Recipient, now: datetime, *, stuffed: bool) -> bytes:
        head = self._recipient_head(recipient, now)
        text = self.text.encode((recipient.unsubscribe_url, recipient.email), stuffed=stuffed)
        page = self.html.encode((html.escape(recipient.unsubscribe_url),
                                 html.escape(recipient.email)), stuffed=stuffed)
        return b"".join((
            self.shared_head, head, b"\r\n", self.open_text, text, self.open_html, page, self.close,
        ))

    def _recipient_head(self, recipient: Recipient, now: datetime) -> bytes:
        now = now.replace(microsecond=0)
        if self._date[0] != now:
            self._date = (now, format_datetime(now))
        plain = _plain_recipient_head(
            recipient, message_id(self.rendered, recipient, self.domain), self._date[1])
        if plain is not None:
            return plain
        return _folded(_recipient_headers(self.rendered, recipient, self.domain, now))


def compose(rendered: RenderedDigest, recipient: Recipient, cfg: EmailChannel, *,
            now: datetime) -> EmailMessage:
    """One recipient's copy as an EmailMessage (for previews and test copies): the very
    bytes the sender sends, parsed back."""
    data = CopyMaker(rendered, cfg).make(recipient, now=now)
    parsed = message_from_bytes(data, policy=policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    return parsed


def mailto_for(cfg: EmailChannel, token: str) -> str:
    """mailto: for List-Unsubscribe. The subject carries the reader's unsubscribe token, so
    mail to it unsubscribes that reader alone (a forged From cannot unsubscribe anyone); see
    bot/digest/mail_unsubscribe.py."""
    address = parseaddr(cfg.unsubscribe_address or cfg.reply_to or cfg.from_)[1]
    return f"mailto:{address}?subject=unsubscribe%20{token}"


def confirmation_message(env: jinja2.Environment, cfg: EmailChannel, channel: str, email: str,
                         confirm_link: str, *, now: datetime) -> EmailMessage:
    """The double opt-in email: one link that leads to a confirm button."""
    domain = from_domain(cfg.from_)
    context = {"title": cfg.title, "email": email, "confirm_url": confirm_link,
               "channel": channel}
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = cfg.from_
    msg["To"] = Address(addr_spec=email)
    msg["Subject"] = header_text(f"Confirm your subscription to {cfg.title}")
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<confirm.{channel}.{secrets.token_hex(12)}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(render_template(env, "email/confirm.txt.j2", context, channel=channel) + "\n")
    msg.add_alternative(_INLINER.inline(
        render_template(env, "email/confirm.html.j2", context, channel=channel)), subtype="html")
    return msg
