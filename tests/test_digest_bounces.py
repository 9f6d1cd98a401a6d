"""Bounces that come back by mail after the relay said 250: VERP envelope senders on the copies
a real SMTP server received, and the delivery reports a relay would send back to them."""

from __future__ import annotations

import mailbox
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.digest.bounces import bounce_by_mail
from bot.digest.commands import run_digest
from bot.store import Store, open_store
from tests import smtp_server as kit
from tests.smtp_server import RUN_AT, RecordingHandler, add_article, add_subscribers, make_config

digest_store = kit.digest_store
smtp_server = kit.smtp_server
Server = tuple[RecordingHandler, int]


def report(to: str, status: str = "5.1.1", action: str = "failed",
           recipient: str = "reader1@example.com") -> bytes:
    """A delivery status notification (RFC 3464) as Postfix writes one."""
    return f"""From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net
Arrival-Date: Tue, 24 Nov 2026 07:00:06 +0300

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

--B0UND
Content-Type: text/rfc822-headers

From: Newsroom <digest@news.example.org>
Subject: Morning digest

--B0UND--
""".replace("\n", "\r\n").encode("ascii")


def auto_reply(to: str) -> bytes:
    return (f"From: reader1@example.com\r\nTo: {to}\r\nSubject: Out of office\r\n"
            "Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n").encode("ascii")


async def _digest(tmp_path: Path, store: Store, server: Server, day: int = 0,
                  **channel: object) -> dict[str, str]:
    """Send one day's digest; returns each reader's envelope sender (MAIL FROM)."""
    handler, port = server
    handler.received.clear()
    at = RUN_AT + timedelta(days=day)
    add_article(store, day, published=at - timedelta(hours=1))
    config = make_config(tmp_path, port, bounce_address="bounces@news.example.org", **channel)
    await run_digest(config, store, "digest", at)
    return {r.rcpt_tos[0]: r.mail_from for r in handler.received}


async def test_each_copy_goes_out_from_its_own_signed_bounce_address(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    add_subscribers(digest_store, 3)
    senders = await _digest(tmp_path, digest_store, smtp_server)
    assert len(set(senders.values())) == 3
    for address in senders.values():
        local, _, domain = address.partition("@")
        assert domain == "news.example.org" and local.startswith("bounces+")
        assert len(local) <= 64
    (copy,) = [r for r in smtp_server[0].received if r.rcpt_tos == ["reader0@example.com"]]
    assert copy.message["From"] == "Newsroom <digest@news.example.org>"  # readers see this


async def test_a_hard_bounce_counts_once_per_copy_and_stops_the_address_at_the_limit(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    add_subscribers(digest_store, 2)
    config = make_config(tmp_path, smtp_server[1], bounce_address="bounces@news.example.org",
                         bounce_limit=2)
    for day in range(2):
        senders = await _digest(tmp_path, digest_store, smtp_server, day, bounce_limit=2)
        assert set(senders) == {"reader0@example.com", "reader1@example.com"}
        dsn = report(senders["reader1@example.com"])
        first = bounce_by_mail(config, digest_store, dsn, now=RUN_AT + timedelta(days=day))
        assert (first.outcome, first.email) == ("bounced", "reader1@example.com")
        # The MTA delivers the same report twice: it is not counted twice.
        again = bounce_by_mail(config, digest_store, dsn, now=RUN_AT + timedelta(days=day))
        assert again.outcome == "already"
    assert "is now bounced (limit 2)" in first.detail and "5.1.1" in first.detail
    sub = digest_store.get_subscriber("digest", "reader1@example.com")
    assert sub is not None and (sub.status, sub.hard_bounces) == ("bounced", 2)
    runs = digest_store.digest_runs("digest")
    assert all(digest_store.send_counts(run.id) == {"sent": 1, "bounced": 1} for run in runs)

    senders = await _digest(tmp_path, digest_store, smtp_server, 2, bounce_limit=2)
    assert set(senders) == {"reader0@example.com"}  # the bounced address gets nothing more


async def test_forged_delayed_and_auto_replies_change_nothing(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    add_subscribers(digest_store, 2)
    senders = await _digest(tmp_path, digest_store, smtp_server)
    config = make_config(tmp_path, smtp_server[1], bounce_address="bounces@news.example.org",
                         bounce_limit=1)
    verp = senders["reader1@example.com"]
    local, _, domain = verp.partition("@")
    run_id, subscriber_id, mac = local.removeprefix("bounces+").split("-")
    forged = f"bounces+{run_id}-{int(subscriber_id) - 1}-{mac}@{domain}"  # another reader
    outcomes = [bounce_by_mail(config, digest_store, raw, now=RUN_AT).outcome for raw in (
        report(forged, recipient="reader0@example.com"),
        report("bounces@news.example.org"),
        report(verp, status="4.4.1", action="delayed"),
        auto_reply(verp),
    )]
    assert outcomes == ["invalid-token", "no-token", "soft", "not-a-bounce"]
    assert {s.email: (s.status, s.hard_bounces)
            for s in digest_store.iter_subscribers("digest")} == {
        "reader0@example.com": ("active", 0), "reader1@example.com": ("active", 0)}


def test_cli_reads_bounces_from_a_maildir(tmp_path: Path) -> None:
    from bot.digest.tokens import verp_token

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "config.yaml"
    config.write_text(f"""
store: {url}
secret_key: {kit.SECRET}
sources: [{{id: en, url: feed.xml}}]
channels:
  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    bounce_address: bounces@news.example.org
    bounce_limit: 1
    schedule: {{cron: "0 7 * * *"}}
""", encoding="utf-8")
    store = open_store(url)
    add_subscribers(store, 1)
    sub = store.get_subscriber("digest", "reader0@example.com")
    assert sub is not None
    add_article(store, 1)
    run = store.start_digest_run("digest", scheduled_for=RUN_AT, now=RUN_AT, max_articles=30)
    assert run is not None
    store.claim_send(run.id, sub.id, "<m@x>", now=RUN_AT)
    store.finish_send(run.id, sub.id, "sent", now=RUN_AT)
    verp = f"bounces+{verp_token(kit.SECRET.encode(), run.id, sub.id)}@news.example.org"
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(mailbox.MaildirMessage(report(verp, recipient="reader0@example.com")))
    result = CliRunner().invoke(cli, ["--config", str(config), "digest", "bounce-mail",
                                      "--maildir", str(tmp_path / "bounces")])
    assert result.exit_code == 0, result.output
    assert "bounced: reader0@example.com is now bounced (limit 1)" in result.output
    after = store.get_subscriber("digest", "reader0@example.com")
    assert after is not None and after.status == "bounced"
    assert [box.get_message(k).get_subdir() for k in box.iterkeys()] == ["cur"]
    store.close()
