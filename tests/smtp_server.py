"""A real SMTP server on 127.0.0.1 for digest tests (aiosmtpd), plus the small kit the
digest, subscriber and web tests share (a config with one email channel, stored articles).

aiosmtpd's ``Controller(port=0)`` fails its readiness check, so a free port is picked first.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
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
                                          bytes(envelope.content), login.decode()))
        return "250 OK"

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


@pytest.fixture
def digest_store(store: Store) -> Store:
    """conftest's ``store``: every digest test runs on SQLite and on PostgreSQL."""
    return store


def make_config(tmp_path: Path, port: int = 2525, **channel: Any) -> Config:
    """A config with one email channel ``digest`` (daily 07:00 in Asia/Baghdad)."""
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
    smtp: {{host: 127.0.0.1, port: {port}, security: none, pool_size: 4, timeout: 5s}}
    schedule: {{cron: "0 7 * * *", grace: 6h}}
{extra}"""
    return parse_config(text, base_dir=tmp_path)


def add_article(store: Store, n: int, *, channel: str = "digest", title: str | None = None,
                summary_html: str = "", language: str = "en", section: str = "World",
                published: datetime | None = None, image_url: str | None = None) -> Article:
    """Store an article and its pending delivery to the digest channel."""
    when = published or datetime(2026, 11, 24, 1, 0, tzinfo=UTC) + timedelta(minutes=n)
    item = FeedItem(source_id="en", guid=f"g{n}", url=f"https://news.example.org/a/{n}",
                    title=title or f"Article {n}", summary=f"Summary of article {n}.",
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
