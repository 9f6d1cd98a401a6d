"""Unsubscribing by mail: the List-Unsubscribe mailto: a reader's mail client uses, from the
copy a real SMTP server received to the reply that takes that reader (and only them) off."""

from __future__ import annotations

import mailbox
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from click.testing import CliRunner

from bot.cli import cli
from bot.digest.commands import run_digest
from bot.digest.mail_unsubscribe import unsubscribe_by_mail
from bot.store import Store, open_store
from tests import smtp_server as kit
from tests.smtp_server import RUN_AT, RecordingHandler, add_article, add_subscribers, make_config

digest_store = kit.digest_store
smtp_server = kit.smtp_server


def _mailto(received: kit.Received) -> tuple[str, str]:
    """(address, subject) of the copy's List-Unsubscribe mailto:, as a mail client reads it."""
    header = str(received.message["List-Unsubscribe"])
    mailto = next(part.strip(" <>") for part in header.split(",") if "mailto:" in part)
    url = urlsplit(mailto)
    return unquote(url.path), parse_qs(url.query)["subject"][0]


def _reply(sender: str, to: str, subject: str, body: str = "") -> bytes:
    """The message a mail client's "unsubscribe" button sends."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(body or "This message was sent to unsubscribe.")
    return msg.as_bytes()


async def _digest_to(tmp_path: Path, store: Store, server: tuple[RecordingHandler, int],
                     readers: int) -> dict[str, kit.Received]:
    handler, port = server
    add_article(store, 1)
    add_subscribers(store, readers)
    await run_digest(make_config(tmp_path, port), store, "digest", RUN_AT)
    return {r.rcpt_tos[0]: r for r in handler.received}


async def test_mailing_the_unsubscribe_address_takes_that_reader_off(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    copies = await _digest_to(tmp_path, digest_store, smtp_server, 2)
    address, subject = _mailto(copies["reader0@example.com"])
    assert address == "digest@news.example.org" and subject.startswith("unsubscribe ")

    config = make_config(tmp_path, smtp_server[1])
    result = unsubscribe_by_mail(config, digest_store, _reply("reader0@example.com", address,
                                                              subject), now=RUN_AT)
    assert (result.outcome, result.email, result.channel) == (
        "unsubscribed", "reader0@example.com", "digest")
    statuses = {s.email: s.status for s in digest_store.iter_subscribers("digest")}
    assert statuses == {"reader0@example.com": "unsubscribed", "reader1@example.com": "active"}

    # The next digest goes to the reader who stayed, only.
    handler = smtp_server[0]
    handler.received.clear()
    tomorrow = RUN_AT + timedelta(days=1)
    add_article(digest_store, 2, published=tomorrow - timedelta(hours=1))
    await run_digest(config, digest_store, "digest", tomorrow)
    assert handler.by_recipient() == {"reader1@example.com": 1}

    again = unsubscribe_by_mail(config, digest_store, _reply("reader0@example.com", address,
                                                             "Re: " + subject), now=tomorrow)
    assert again.outcome == "already"


async def test_forged_or_altered_mail_unsubscribes_nobody(
        tmp_path: Path, digest_store: Store, smtp_server: tuple[RecordingHandler, int]) -> None:
    copies = await _digest_to(tmp_path, digest_store, smtp_server, 2)
    address, subject = _mailto(copies["reader1@example.com"])
    config = make_config(tmp_path, smtp_server[1])
    token = subject.split()[1]
    altered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    forged = [
        _reply("reader1@example.com", address, "unsubscribe"),  # From alone is not trusted
        _reply("reader1@example.com", address, f"unsubscribe {altered}"),
        _reply("reader1@example.com", address, "Hello", body="please unsubscribe me"),
    ]
    outcomes = [unsubscribe_by_mail(config, digest_store, raw, now=RUN_AT).outcome
                for raw in forged]
    assert outcomes == ["no-token", "invalid-token", "no-token"]
    assert {s.status for s in digest_store.iter_subscribers("digest")} == {"active"}

    # A client that puts mailto's subject in the body instead still works.
    body = unsubscribe_by_mail(config, digest_store, _reply(
        "reader1@example.com", address, "Unsubscribe request", body=subject), now=RUN_AT)
    assert body.outcome == "unsubscribed" and body.email == "reader1@example.com"


def _cli_config(tmp_path: Path, store_url: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"""
store: {store_url}
secret_key: {kit.SECRET}
public_url: https://news.example.org/bot
sources: [{{id: en, url: feed.xml}}]
channels:
  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    unsubscribe_address: leave@news.example.org
    schedule: {{cron: "0 7 * * *"}}
""", encoding="utf-8")
    return config


def _maildir_with(path: Path, messages: list[bytes]) -> mailbox.Maildir:
    box = mailbox.Maildir(path, create=True)
    for raw in messages:
        box.add(mailbox.MaildirMessage(raw))
    return box


def test_cli_reads_a_maildir_and_marks_what_it_handled(tmp_path: Path) -> None:
    from bot.digest.commands import reader_recipient, secret_of

    config_path = _cli_config(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}")
    store = open_store(f"sqlite:///{tmp_path / 'cli.db'}")
    add_subscribers(store, 2)
    sub = store.get_subscriber("digest", "reader0@example.com")
    assert sub is not None
    runner = CliRunner()
    from bot.config import EmailChannel, load_config

    config = load_config(config_path)
    cfg = config.channels["digest"]
    assert isinstance(cfg, EmailChannel)
    mailto = reader_recipient(config, cfg, secret_of(config), "digest", sub.id, sub.email,
                              salt=sub.token_salt).mailto
    assert mailto.startswith("mailto:leave@news.example.org?subject=unsubscribe%20")
    subject = unquote(mailto.partition("subject=")[2])
    box = _maildir_with(tmp_path / "mail", [
        _reply("reader0@example.com", "leave@news.example.org", subject),
        _reply("reader1@example.com", "leave@news.example.org", "unsubscribe"),
    ])
    result = runner.invoke(cli, ["--config", str(config_path), "digest", "unsubscribe-mail",
                                 "--maildir", str(tmp_path / "mail")])
    assert result.exit_code == 0, result.output
    assert "unsubscribed: reader0@example.com left digest" in result.output
    assert "no-token" in result.output
    assert {s.email: s.status for s in store.iter_subscribers("digest")} == {
        "reader0@example.com": "unsubscribed", "reader1@example.com": "active"}
    handled = [box.get_message(k) for k in box.iterkeys()]
    assert [(m.get_subdir(), "S" in m.get_flags()) for m in handled] == [("cur", True)] * 2
    # A second pass has nothing new to read.
    again = runner.invoke(cli, ["--config", str(config_path), "digest", "unsubscribe-mail",
                                "--maildir", str(tmp_path / "mail")])
    assert again.exit_code == 0 and again.output == ""
    store.close()


def test_cli_with_the_store_down_exits_tempfail_and_keeps_the_mail(tmp_path: Path) -> None:
    config_path = _cli_config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none")
    box = _maildir_with(tmp_path / "mail", [_reply("a@example.com", "leave@x", "unsubscribe x")])
    result = CliRunner().invoke(cli, ["--config", str(config_path), "digest",
                                      "unsubscribe-mail", "--maildir", str(tmp_path / "mail")])
    assert result.exit_code == 75, result.output
    assert [box.get_message(k).get_subdir() for k in box.iterkeys()] == ["new"]


def test_cli_reads_standard_input(tmp_path: Path) -> None:
    config_path = _cli_config(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(cli, ["--config", str(config_path), "digest", "unsubscribe-mail"],
                                input=_reply("a@example.com", "leave@x", "hello"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("stdin: no-token:")
