"""Sending a digest through a real SMTP server: exactly one copy each, whatever happens."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.digest.commands import run_digest
from bot.digest.message import Recipient
from bot.models import DeliveryStatus
from bot.store import Store
from tests import smtp_server as kit
from tests.smtp_server import (
    RUN_AT,
    RecordingHandler,
    add_article,
    add_subscribers,
    make_config,
)

digest_store = kit.digest_store  # fixtures shared by the digest tests
smtp_server = kit.smtp_server

FAST = (0.01, 0.01, 0.01)
Server = tuple[RecordingHandler, int]


class Crash(Exception):
    """Stands in for the process dying."""


async def test_crash_halfway_then_rerun_gives_everyone_exactly_one_copy(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    config = make_config(tmp_path, port)
    add_article(digest_store, 1)
    emails = add_subscribers(digest_store, 1000)
    sent = 0

    def crash_after_500(_: Recipient) -> None:
        nonlocal sent
        sent += 1
        if sent == 500:
            raise Crash

    with pytest.raises(Crash):
        await run_digest(config, digest_store, "digest", RUN_AT, after_send=crash_after_500)
    before = len(handler.received)
    assert 500 <= before < 1000

    outcome = await run_digest(config, digest_store, "digest", RUN_AT + timedelta(minutes=3))
    assert outcome.status == "sent" and outcome.report is not None
    assert outcome.report.sent == 1000 - before
    counts = handler.by_recipient()
    assert sorted(counts) == sorted(emails)
    assert set(counts.values()) == {1}
    # ...and a third call sends nothing more.
    again = await run_digest(config, digest_store, "digest", RUN_AT + timedelta(minutes=5))
    assert again.status == "done-already"
    assert len(handler.received) == 1000


async def test_copy_left_sending_by_a_killed_worker_is_not_sent_again(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    config = make_config(tmp_path, port)
    add_article(digest_store, 1)
    add_subscribers(digest_store, 3)
    run = digest_store.start_digest_run("digest", scheduled_for=RUN_AT - timedelta(seconds=5),
                                        now=RUN_AT, max_articles=30)
    assert run is not None
    first = digest_store.get_subscriber("digest", "reader0@example.com")
    assert first is not None
    # A worker recorded "sending" for reader0 and died: the copy may be out.
    assert digest_store.claim_send(run.id, first.id, "<x@y>", now=RUN_AT)
    outcome = await run_digest(config, digest_store, "digest", RUN_AT)
    assert outcome.status == "sent"
    assert sorted(handler.by_recipient()) == ["reader1@example.com", "reader2@example.com"]
    assert digest_store.send_states(run.id)[first.id] == "unknown"


async def test_4xx_is_retried_and_delivered_once(tmp_path: Path, digest_store: Store,
                                                 smtp_server: Server) -> None:
    handler, port = smtp_server
    handler.data_answers = ["451 4.3.0 try again later", "452 4.3.1 still busy"]
    add_article(digest_store, 1)
    add_subscribers(digest_store, 1)
    outcome = await run_digest(make_config(tmp_path, port), digest_store, "digest", RUN_AT,
                               retry_delays=FAST)
    assert outcome.report is not None and outcome.report.sent == 1
    assert handler.by_recipient() == {"reader0@example.com": 1}


async def test_lost_connection_is_replaced_without_losing_the_message(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    handler.data_answers = ["drop"]
    add_article(digest_store, 1)
    add_subscribers(digest_store, 5)
    outcome = await run_digest(make_config(tmp_path, port), digest_store, "digest", RUN_AT,
                               retry_delays=FAST)
    assert outcome.report is not None and outcome.report.sent == 5
    assert set(handler.by_recipient().values()) == {1} and len(handler.by_recipient()) == 5


async def test_5xx_counts_hard_bounces_until_bounce_limit(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    handler.rcpt_answers["reader0@example.com"] = "550 5.1.1 no such user"
    config = make_config(tmp_path, port, bounce_limit=2)
    add_subscribers(digest_store, 2)
    for day in range(3):
        at = RUN_AT + timedelta(days=day)
        add_article(digest_store, day, published=at - timedelta(hours=1))
        await run_digest(config, digest_store, "digest", at, retry_delays=FAST)
    bad = digest_store.get_subscriber("digest", "reader0@example.com")
    assert bad is not None and bad.status == "bounced" and bad.hard_bounces == 2
    assert handler.by_recipient() == {"reader1@example.com": 3}


async def test_an_address_no_header_can_carry_fails_alone(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    """An address stored before validation refused it (or by hand) fails for that reader
    with a reason; everyone else still gets the digest."""
    handler, port = smtp_server
    add_article(digest_store, 1)
    emails = add_subscribers(digest_store, 3)
    digest_store.subscribe("digest", "ünïcode@example.org", status="active", now=RUN_AT)
    outcome = await run_digest(make_config(tmp_path, port), digest_store, "digest", RUN_AT)
    assert handler.by_recipient() == dict.fromkeys(emails, 1)
    assert outcome.report is not None
    assert (outcome.report.sent, outcome.report.failed) == (3, 1)
    assert "ünïcode@example.org: cannot write a copy" in outcome.report.errors[0]


async def test_each_copy_is_counted_once_in_the_metrics(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    from bot import metrics

    def sent() -> float:
        return metrics.REGISTRY.get_sample_value(
            "newsbot_digest_recipients_sent_total", {"channel": "digest"}) or 0.0

    handler, port = smtp_server
    before = sent()
    add_article(digest_store, 1)
    add_subscribers(digest_store, 3)
    await run_digest(make_config(tmp_path, port), digest_store, "digest", RUN_AT)
    assert len(handler.received) == 3
    assert sent() - before == 3


async def test_only_active_subscribers_receive(tmp_path: Path, digest_store: Store,
                                               smtp_server: Server) -> None:
    handler, port = smtp_server
    add_article(digest_store, 1)
    for status in ("pending", "active", "unsubscribed", "bounced"):
        digest_store.subscribe("digest", f"{status}@example.com", status=status, now=RUN_AT)
    await run_digest(make_config(tmp_path, port), digest_store, "digest", RUN_AT)
    assert handler.by_recipient() == {"active@example.com": 1}


async def test_missed_run_is_sent_once_within_grace(tmp_path: Path, digest_store: Store,
                                                    smtp_server: Server) -> None:
    handler, port = smtp_server
    config = make_config(tmp_path, port)
    add_article(digest_store, 1)
    add_subscribers(digest_store, 1)
    late = RUN_AT + timedelta(hours=5)  # the bot was down at 07:00, back at 12:00
    assert (await run_digest(config, digest_store, "digest", late)).status == "sent"
    assert (await run_digest(config, digest_store, "digest", late)).status == "done-already"
    assert len(handler.received) == 1


async def test_run_missed_past_grace_is_skipped_and_articles_wait(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    handler, port = smtp_server
    config = make_config(tmp_path, port)
    add_article(digest_store, 1)
    add_subscribers(digest_store, 1)
    outcome = await run_digest(config, digest_store, "digest", RUN_AT + timedelta(hours=7))
    assert outcome.status == "not-due" and handler.received == []
    assert len(digest_store.pending_digest_deliveries("digest", RUN_AT + timedelta(hours=7))) == 1


async def test_watermark_and_cap(tmp_path: Path, digest_store: Store,
                                 smtp_server: Server) -> None:
    handler, port = smtp_server
    config = make_config(tmp_path, port, max_articles=3)
    for n in range(5):
        add_article(digest_store, n)
    add_subscribers(digest_store, 1)
    outcome = await run_digest(config, digest_store, "digest", RUN_AT)
    assert outcome.run_id is not None
    text = handler.received[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [t for t in ("Article 4", "Article 3", "Article 2") if t in text] == [
        "Article 4", "Article 3", "Article 2"]
    assert text.index("Article 4") < text.index("Article 3")  # newest first
    assert "Article 1" not in text and "Article 0" not in text
    rows = {d.article_id: d for d in digest_store.deliveries(channel="digest")}
    assert sorted(d.status for d in rows.values()) == ["sent"] * 3 + ["skipped"] * 2
    assert {d.receipt_id for d in rows.values() if d.status == DeliveryStatus.SENT} == {
        f"digest-run:{outcome.run_id}"}
    # The next day carries only what arrived since.
    add_article(digest_store, 10, published=RUN_AT + timedelta(hours=2))
    await run_digest(config, digest_store, "digest", RUN_AT + timedelta(days=1))
    text = handler.received[1].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Article 10" in text and "Article 4" not in text


async def test_a_restarted_worker_resumes_once_the_dead_workers_lease_expires(
        tmp_path: Path, digest_store: Store, smtp_server: Server) -> None:
    from bot.digest.commands import LEASE_TTL

    handler, port = smtp_server
    config = make_config(tmp_path, port)
    add_article(digest_store, 1)
    add_subscribers(digest_store, 2)
    run = digest_store.start_digest_run("digest", scheduled_for=RUN_AT - timedelta(seconds=5),
                                        now=RUN_AT, max_articles=30)
    assert run is not None
    # The worker that started the run died holding the lease.
    assert digest_store.acquire_lease("digest:digest", "dead-host:1", now=RUN_AT,
                                      until=RUN_AT + LEASE_TTL)
    assert (await run_digest(config, digest_store, "digest", RUN_AT)).status == "busy"
    later = RUN_AT + LEASE_TTL + timedelta(seconds=1)
    assert (await run_digest(config, digest_store, "digest", later)).status == "sent"
    assert handler.by_recipient() == {"reader0@example.com": 1, "reader1@example.com": 1}


def test_email_channels_send_digests_not_single_posts(tmp_path: Path) -> None:
    from bot.channels import make_channel
    from bot.channels.registry import is_platform
    from bot.outlets import build_outlets

    config = make_config(tmp_path)
    cfg = config.channels["digest"]
    assert not is_platform(cfg)
    assert "digest" not in build_outlets(config)
    with pytest.raises(LookupError, match="no platform has type 'email'"):
        make_channel("digest", cfg, config)


smtp_auth_server = kit.smtp_auth_server


async def test_auth_is_used_when_a_username_is_set(
        tmp_path: Path, digest_store: Store, smtp_auth_server: Server) -> None:
    handler, port = smtp_auth_server
    config = make_config(tmp_path, port)
    smtp = config.channels["digest"].smtp  # type: ignore[union-attr]
    from pydantic import SecretStr

    cfg = config.channels["digest"].model_copy(update={"smtp": smtp.model_copy(update={
        "username": "digest", "password": SecretStr("s3cret")})})
    config = config.model_copy(update={"channels": {"digest": cfg}})
    add_article(digest_store, 1)
    add_subscribers(digest_store, 2)
    outcome = await run_digest(config, digest_store, "digest", RUN_AT)
    assert outcome.report is not None and outcome.report.sent == 2
    assert {r.login for r in handler.received} == {"digest"}


@pytest.mark.parametrize("pool_size", [1, 4])
async def test_connections_are_reused_across_recipients(
        tmp_path: Path, digest_store: Store, smtp_server: Server, pool_size: int) -> None:
    handler, port = smtp_server
    add_article(digest_store, 1)
    add_subscribers(digest_store, 40)
    config = make_config(tmp_path, port)
    from bot.digest.commands import send_run

    run = digest_store.start_digest_run("digest", scheduled_for=RUN_AT, now=RUN_AT,
                                        max_articles=30)
    assert run is not None
    report = await send_run(config, digest_store, run, pool_size=pool_size)
    assert report.sent == 40 and handler.sessions == pool_size
