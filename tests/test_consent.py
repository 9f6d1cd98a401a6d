"""Consent holds: a reader who unsubscribed is not put back by `subscribers add` or
`import`; `--resubscribe` sends them a new confirmation instead. A Mailchimp export imports
as it is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import smtp_server as kit
from tests.kit import digest_yaml, newsbot, store_of
from tests.smtp_server import SECRET, RecordingHandler

smtp_server = kit.smtp_server
LEFT = datetime(2026, 10, 3, 8, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path, smtp_server: tuple[RecordingHandler, int]) -> Path:
    _, port = smtp_server
    smtp = f"{{host: 127.0.0.1, port: {port}, security: none}}"
    (tmp_path / "config.yaml").write_text(digest_yaml(smtp, secret=SECRET), encoding="utf-8")
    with store_of(tmp_path) as store:
        sub = store.subscribe("digest", "gone@example.com", status="active", now=LEFT)
        store.unsubscribe(sub.id, now=LEFT)
    return tmp_path


def status_of(project: Path, email: str) -> str:
    with store_of(project) as store:
        sub = store.get_subscriber("digest", email)
    assert sub is not None
    return sub.status


def test_add_refuses_a_reader_who_unsubscribed_naming_the_day_they_left(project: Path) -> None:
    result = newsbot(project, "subscribers", "add", "digest", "gone@example.com")
    assert result.exit_code == 2
    assert "gone@example.com unsubscribed from digest on 2026-10-03" in result.output
    assert "--resubscribe" in result.output
    assert status_of(project, "gone@example.com") == "unsubscribed"
    pending = newsbot(project, "subscribers", "add", "digest", "gone@example.com", "--pending")
    assert pending.exit_code == 2 and status_of(project, "gone@example.com") == "unsubscribed"


def test_resubscribe_sends_a_confirmation_and_never_activates_directly(
        project: Path, smtp_server: tuple[RecordingHandler, int]) -> None:
    handler, _ = smtp_server
    result = newsbot(project, "subscribers", "add", "digest", "gone@example.com",
                     "--resubscribe")
    assert result.exit_code == 0, result.output
    assert "confirmation email was sent" in result.output
    assert status_of(project, "gone@example.com") == "pending"
    (mail,) = handler.received
    assert mail.rcpt_tos == ["gone@example.com"]
    assert "https://news.example.org/bot/confirm/" in mail.message.as_string()


def test_import_reports_readers_who_left_and_does_not_put_them_back(project: Path) -> None:
    csv_file = project / "readers.csv"
    csv_file.write_text("email\nnew@example.com\ngone@example.com\n", encoding="utf-8")
    result = newsbot(project, "subscribers", "import", "digest", str(csv_file))
    assert result.exit_code == 0, result.output
    assert ("1 added, 0 already subscribed, 1 unsubscribed earlier, not imported, 0 invalid"
            in result.output)
    assert status_of(project, "gone@example.com") == "unsubscribed"


def test_a_mailchimp_export_imports_without_its_header_counted_invalid(project: Path) -> None:
    csv_file = project / "subscribed_members_export.csv"
    csv_file.write_text(
        '"Email Address","First Name","Last Name","MEMBER_RATING","OPTIN_TIME"\n'
        'one@example.com,One,Reader,2,"2026-01-02 10:00:00"\n'
        'two@example.com,Two,Reader,3,"2026-02-03 11:00:00"\n', encoding="utf-8")
    result = newsbot(project, "subscribers", "import", "digest", str(csv_file))
    assert result.exit_code == 0, result.output
    assert "2 added, 0 already subscribed, 0 invalid" in result.output
    assert "skipped" not in result.output
