"""A real SMTP server on 127.0.0.1 for digest tests (aiosmtpd), plus the small kit the
digest, subscriber and web tests share (a config with one email channel, stored articles).

aiosmtpd's ``Controller(port=0)`` fails its readiness check, so a free port is picked first.
The TLS servers (``tls_server``) use certificates from a throwaway trustme CA whose PEM is
written next to the test's config, for ``smtp.ca_file``.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from bot.config import Config, parse_config
from bot.models import Article, FeedItem
from bot.store import NewDelivery, Store

SECRET = "test-secret-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str = ""  # the AUTH login the session used, when any
    tls: str = ""  # the TLS version the message arrived over ("" when in clear)

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class RecordingHandler:
    """Accepts everything except what the test configures: RCPT answers per address, a
    DATA answer for the next N messages, or dropping the connection."""

    received: list[Received] = field(default_factory=list)
    rcpt_answers: dict[str, str] = field(default_factory=dict)
    data_answers: list[str] = field(default_factory=list)  # consumed one per DATA
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: int = 0  # EHLOs seen: how many connections the client opened
    # Every AUTH the server was asked for: (login, TLS version or "" when in clear). Filled
    # by check_password, the authenticator of the tls_server and cleartext_auth servers.
    auth_attempts: list[tuple[str, str]] = field(default_factory=list)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        answer = self.rcpt_answers.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.data_answers:
                answer = self.data_answers.pop(0)
                if answer == "drop":
                    server.transport.close()
                    return "421 closing"
                return answer
            auth = getattr(session, "auth_data", None)
            login = getattr(auth, "login", b"") or b""
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          bytes(envelope.content), login.decode(),
                                          _tls_version(server)))
        return "250 OK"

    def check_password(self, server: Any, session: Any, envelope: Any, mechanism: str,
                       auth_data: Any) -> AuthResult:
        """Login digest, password s3cret; records whether the password came encrypted."""
        with self.lock:
            self.auth_attempts.append((auth_data.login.decode(), _tls_version(server)))
        return _password_check(server, session, envelope, mechanism, auth_data)

    def by_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.received:
            for rcpt in item.rcpt_tos:
                counts[rcpt] = counts.get(rcpt, 0) + 1
        return counts


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    """(handler, port) of a running aiosmtpd server on 127.0.0.1."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _password_check(server: Any, session: Any, envelope: Any, mechanism: str,
                    auth_data: Any) -> AuthResult:
    ok = auth_data.login == b"digest" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def smtp_auth_server() -> Iterator[tuple[RecordingHandler, int]]:
    """Like ``smtp_server``, but AUTH (login digest, password s3cret) is required."""
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, auth_required=True,
                            auth_require_tls=False, authenticator=_password_check)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _tls_version(server: Any) -> str:
    """What the server's side of the connection sees: after STARTTLS, and for implicit TLS,
    its transport is the TLS one."""
    transport = getattr(server, "transport", None)
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return str(ssl_object.version()) if ssl_object is not None else ""


@contextmanager
def running_server(handler: RecordingHandler, **options: Any) -> Iterator[int]:
    """An aiosmtpd server on 127.0.0.1 with Controller ``options``; yields its port."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass(frozen=True)
class TlsServer:
    handler: RecordingHandler
    port: int
    ca_file: Path  # PEM of the CA that signed the server's certificate

    def smtp(self, security: str, **extra: Any) -> str:
        """An ``smtp:`` mapping for make_config: this server, AUTH as digest/s3cret,
        trusting ``ca_file`` (override any key through ``extra``)."""
        keys: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "security": security,
                                "username": "digest", "password": "s3cret",
                                "ca_file": str(self.ca_file), "pool_size": 2,
                                "timeout": "5s", **extra}
        return "{" + ", ".join(f"{k}: {v}" for k, v in keys.items() if v is not None) + "}"


@contextmanager
def tls_server(tmp_path: Path, *, implicit: bool,
               names: tuple[str, ...] = ("127.0.0.1",)) -> Iterator[TlsServer]:
    """A server that requires AUTH over TLS: implicit TLS from the first byte (port-465
    style) or STARTTLS, required before anything but EHLO/NOOP/QUIT (port-587 style). Its
    certificate is issued for ``names`` by a fresh CA written to tmp_path/relay-ca.pem
    (relay-ca-2.pem, … when a test runs more than one)."""
    ca = trustme.CA()
    ca_file, n = tmp_path / "relay-ca.pem", 1
    while ca_file.exists():
        n += 1
        ca_file = tmp_path / f"relay-ca-{n}.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    handler = RecordingHandler()
    options: dict[str, Any] = {"auth_required": True, "authenticator": handler.check_password}
    if implicit:
        # aiosmtpd counts only STARTTLS as TLS for AUTH, so it has to be told that AUTH is
        # fine here; check_password records that the connection was in fact encrypted.
        options.update(ssl_context=context, auth_require_tls=False)
    else:
        options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    with running_server(handler, **options) as port:
        yield TlsServer(handler, port, ca_file)


@pytest.fixture
def smtps_server(tmp_path: Path) -> Iterator[TlsServer]:
    """Implicit TLS with AUTH; trust its ca_file."""
    with tls_server(tmp_path, implicit=True) as server:
        yield server


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[TlsServer]:
    """STARTTLS required, then AUTH; trust its ca_file."""
    with tls_server(tmp_path, implicit=False) as server:
        yield server


@pytest.fixture
def cleartext_auth_server() -> Iterator[tuple[RecordingHandler, int]]:
    """No TLS at all, and AUTH offered in clear: what a downgrade looks like to a client."""
    handler = RecordingHandler()
    with running_server(handler, auth_required=True, auth_require_tls=False,
                        authenticator=handler.check_password) as port:
        yield handler, port


@pytest.fixture
def digest_store(store: Store) -> Store:
    """conftest's ``store``: every digest test runs on SQLite and on PostgreSQL."""
    return store


def make_config(tmp_path: Path, port: int = 2525, **channel: Any) -> Config:
    """A config with one email channel ``digest`` (daily 07:00 in Asia/Baghdad). ``smtp``
    replaces the default plain-text server at 127.0.0.1:port (see TlsServer.smtp)."""
    smtp = channel.pop("smtp", None) or (
        f"{{host: 127.0.0.1, port: {port}, security: none, pool_size: 4, timeout: 5s}}")
    extra = "".join(f"    {k}: {v}\n" for k, v in channel.items())
    text = f"""
timezone: Asia/Baghdad
secret_key: {SECRET}
public_url: https://news.example.org/bot
sources:
  - id: en
    url: feed.xml
channels:
  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    title: Morning digest
    smtp: {smtp}
    schedule: {{cron: "0 7 * * *", grace: 6h}}
{extra}"""
    return parse_config(text, base_dir=tmp_path)


def add_article(store: Store, n: int, *, channel: str = "digest", title: str | None = None,
                summary_html: str = "", language: str = "en", section: str = "World",
                published: datetime | None = None, image_url: str | None = None,
                summary: str | None = None) -> Article:
    """Store an article and its pending delivery to the digest channel."""
    when = published or datetime(2026, 11, 24, 1, 0, tzinfo=UTC) + timedelta(minutes=n)
    item = FeedItem(source_id="en", guid=f"g{n}", url=f"https://news.example.org/a/{n}",
                    title=title or f"Article {n}",
                    summary=f"Summary of article {n}." if summary is None else summary,
                    summary_html=summary_html, sections=(section,), language=language,
                    published=when, image_url=image_url, image_alt=f"Photo {n}")
    article, _ = store.add_article(item, now=when)
    store.create_deliveries(article.id, [NewDelivery(channel=channel, due_at=when)], now=when)
    return article


def add_subscribers(store: Store, count: int, channel: str = "digest") -> list[str]:
    emails = [f"reader{i}@example.com" for i in range(count)]
    store.add_subscribers(channel, emails, status="active", now=datetime.now(UTC))
    return emails


#: 07:00 in Baghdad (UTC+3) on the test day: the cron's fire time.
RUN_AT = datetime(2026, 11, 24, 4, 0, 5, tzinfo=UTC)
