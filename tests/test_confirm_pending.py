"""A reader an editor adds as pending is sent the confirmation email the subscribe form
sends (`subscribers add --pending`, `import --pending`), under the form's limits, and
`subscribers confirm` sends it again: pending with no email would mean never a digest."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from bot.config import load_config
from bot.store import Store
from bot.web.app import make_app
from tests import smtp_server as kit
from tests.kit import digest_yaml, newsbot, store_of
from tests.smtp_server import SECRET, RecordingHandler

smtp_server = kit.smtp_server
digest_store = kit.digest_store
Server = tuple[RecordingHandler, int]
LEFT = datetime(2026, 10, 3, 8, tzinfo=UTC)


def write_config(project: Path, smtp: str) -> None:
    (project / "config.yaml").write_text(digest_yaml(smtp, secret=SECRET), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path, smtp_server: Server) -> Path:
    _, port = smtp_server
    write_config(tmp_path, f"{{host: 127.0.0.1, port: {port}, security: none}}")
    with store_of(tmp_path) as store:
        store.subscribe("digest", "known@example.com", status="active", now=LEFT)
        store.subscribe("digest", "waiting@example.com", status="pending", now=LEFT)
        gone = store.subscribe("digest", "gone@example.com", status="active", now=LEFT)
        store.unsubscribe(gone.id, now=LEFT)
    return tmp_path


def status_of(project: Path, email: str) -> str | None:
    with store_of(project) as store:
        sub = store.get_subscriber("digest", email)
    return sub.status if sub else None


def confirm_path(handler: RecordingHandler, to: str) -> str:
    (mail,) = [m for m in handler.received if m.rcpt_tos == [to]]
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https://\S+/confirm/\S+", text)
    assert link is not None
    return urlsplit(link[0]).path.removeprefix("/bot")


def test_add_pending_sends_one_confirmation_whose_link_subscribes_the_reader(
        project: Path, smtp_server: Server) -> None:
    handler, _ = smtp_server
    result = newsbot(project, "subscribers", "add", "digest", "new@example.com", "--pending")
    assert result.exit_code == 0, result.output
    assert "new@example.com: pending on digest; a confirmation email was sent" in result.output
    assert [m.rcpt_tos for m in handler.received] == [["new@example.com"]]
    assert status_of(project, "new@example.com") == "pending"
    # Asked again at once: the form's limit holds, so no second email, and the output says
    # so with the command for later.
    again = newsbot(project, "subscribers", "add", "digest", "new@example.com", "--pending")
    assert again.exit_code == 0, again.output
    assert "no confirmation email was sent now: one went out recently" in again.output
    assert "newsbot subscribers confirm digest new@example.com" in again.output
    assert len(handler.received) == 1
    config = load_config(project / "config.yaml")
    with store_of(project) as store:
        client = TestClient(make_app(config, store))
        answer = client.post(confirm_path(handler, "new@example.com"))
    assert "Subscribed" in answer.text
    assert status_of(project, "new@example.com") == "active"


def test_import_pending_mails_exactly_the_new_good_addresses_and_counts_them(
        project: Path, smtp_server: Server) -> None:
    handler, _ = smtp_server
    csv_file = project / "readers.csv"
    csv_file.write_text("email\none@example.com\nnot an address\nknown@example.com\n"
                        "waiting@example.com\ngone@example.com\nTwo@Example.com\n"
                        "one@example.com\n", encoding="utf-8")
    result = newsbot(project, "subscribers", "import", "digest", str(csv_file), "--pending")
    assert result.exit_code == 0, result.output
    assert ("digest: 2 added, 2 already subscribed, 1 unsubscribed earlier, not imported, "
            "1 invalid; the 2 added are pending: 2 confirmation emails sent") in result.output
    assert sorted(handler.by_recipient().items()) == [("one@example.com", 1),
                                                      ("two@example.com", 1)]
    assert status_of(project, "known@example.com") == "active"
    assert status_of(project, "gone@example.com") == "unsubscribed"
    assert handler.sessions == 1  # one connection for the whole import


def test_a_refused_address_stays_pending_is_named_and_the_others_are_sent(
        project: Path, smtp_server: Server) -> None:
    handler, _ = smtp_server
    handler.rcpt_answers["bad@example.com"] = "550 5.1.1 no such mailbox"
    csv_file = project / "readers.csv"
    csv_file.write_text("a@example.com\nbad@example.com\nc@example.com\n", encoding="utf-8")
    result = newsbot(project, "subscribers", "import", "digest", str(csv_file), "--pending")
    assert result.exit_code == 1, result.output
    assert "the 3 added are pending: 2 confirmation emails sent, 1 failed" in result.output
    assert "bad@example.com: not sent (" in result.output and "no such mailbox" in result.output
    assert "newsbot subscribers confirm digest bad@example.com" in result.output
    assert sorted(handler.by_recipient()) == ["a@example.com", "c@example.com"]
    assert status_of(project, "bad@example.com") == "pending"
    # The failed send did not use up the limit: once the relay takes it, it goes out now,
    # and the others (sent a moment ago) are not mailed twice.
    handler.rcpt_answers.clear()
    again = newsbot(project, "subscribers", "confirm", "digest", "bad@example.com")
    assert again.exit_code == 0, again.output
    assert "digest: 1 pending: 1 confirmation email sent" in again.output
    everyone = newsbot(project, "subscribers", "confirm", "digest")
    assert "4 pending: 1 confirmation email sent, 3 not sent again yet" in everyone.output
    assert handler.by_recipient() == {"a@example.com": 1, "bad@example.com": 1,
                                      "c@example.com": 1, "waiting@example.com": 1}


def test_confirm_names_addresses_that_are_not_pending(project: Path,
                                                      smtp_server: Server) -> None:
    handler, _ = smtp_server
    result = newsbot(project, "subscribers", "confirm", "digest", "known@example.com",
                     "nobody@example.com")
    assert result.exit_code == 1
    assert "known@example.com is active of digest: nothing sent" in result.output
    assert "nobody@example.com is not a subscriber of digest: nothing sent" in result.output
    assert handler.received == []


def test_add_pending_fails_loudly_when_the_relay_refuses_and_keeps_the_reader_pending(
        project: Path, smtp_server: Server) -> None:
    handler, _ = smtp_server
    handler.rcpt_answers["new@example.com"] = "550 5.1.1 no such mailbox"
    result = newsbot(project, "subscribers", "add", "digest", "new@example.com", "--pending")
    assert result.exit_code == 1
    assert "new@example.com: pending on digest, but the confirmation email was not sent" in (
        result.output)
    assert "newsbot subscribers confirm digest new@example.com" in result.output
    assert status_of(project, "new@example.com") == "pending"


def test_without_an_smtp_host_pending_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    write_config(tmp_path, "{port: 2525, security: none}")
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("email\none@example.com\n", encoding="utf-8")
    for args in (("add", "digest", "new@example.com", "--pending"),
                 ("import", "digest", str(csv_file), "--pending"),
                 ("confirm", "digest")):
        result = newsbot(tmp_path, "subscribers", *args)
        assert result.exit_code == 2, result.output
        assert "channels.digest.smtp.host is not set" in result.output
        assert "nothing was stored" in result.output
    assert status_of(tmp_path, "new@example.com") is None
    assert status_of(tmp_path, "one@example.com") is None


def test_a_relay_that_cannot_be_reached_fails_every_reader_who_all_stay_pending(
        tmp_path: Path) -> None:
    write_config(tmp_path, f"{{host: 127.0.0.1, port: {kit.free_port()}, security: none, "
                           "timeout: 2s}")
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("one@example.com\ntwo@example.com\n", encoding="utf-8")
    result = newsbot(tmp_path, "subscribers", "import", "digest", str(csv_file), "--pending")
    assert result.exit_code == 1, result.output
    assert "0 confirmation emails sent, 2 failed" in result.output
    assert "two@example.com: not sent (cannot connect to the relay" in result.output
    assert status_of(tmp_path, "one@example.com") == "pending"
    assert status_of(tmp_path, "two@example.com") == "pending"


def test_a_pending_import_names_only_its_new_readers(tmp_path: Path,
                                                    digest_store: Store) -> None:
    from bot.digest.subscriber_list import subscribers_import

    digest_store.subscribe("digest", "known@example.com", status="pending", now=LEFT)
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("b@example.com\nknown@example.com\na@example.com\n", encoding="utf-8")
    report = subscribers_import(digest_store, "digest", csv_file, status="pending")
    assert report.new == ["b@example.com", "a@example.com"]
    found = digest_store.subscribers_among("digest", report.new)
    assert sorted((s.email, s.status) for s in found) == [("a@example.com", "pending"),
                                                          ("b@example.com", "pending")]
