"""``newsbot digest resend-unknown RUN``: the copies a crash left unknown are sent only when
the operator says so, only to those readers, and only once; and ``digest send --to`` says
in one line why a test copy did not go."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.digest.commands import run_digest
from bot.store import Store
from bot.store.digest_runs import DigestRun
from tests import smtp_server as kit
from tests.smtp_server import RUN_AT, RecordingHandler, add_article, add_subscribers, free_port

digest_store = kit.digest_store
smtp_server = kit.smtp_server
Server = tuple[RecordingHandler, int]


def _config_file(tmp_path: Path, store_url: str, port: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"""
timezone: Asia/Baghdad
store: "{store_url}"
secret_key: {kit.SECRET}
public_url: https://news.example.org/bot
web: {{enabled: false}}
sources:
  - id: en
    url: feed.xml
channels:
  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    title: Morning digest
    smtp: {{host: 127.0.0.1, port: {port}, security: none, pool_size: 2, timeout: 5s}}
    schedule: {{cron: "0 7 * * *", grace: 6h}}
""")
    return path


def _run_with_two_unknown(tmp_path: Path, store: Store, port: int) -> DigestRun:
    """A sent run of 4 readers whose copies to reader0 and reader1 were in flight when a
    worker was killed (so they are unknown and were not received)."""
    add_article(store, 1)
    add_subscribers(store, 4)
    run = store.start_digest_run("digest", scheduled_for=RUN_AT - timedelta(seconds=5),
                                 now=RUN_AT, max_articles=30)
    assert run is not None
    for email in ("reader0@example.com", "reader1@example.com"):
        sub = store.get_subscriber("digest", email)
        assert sub is not None
        assert store.claim_send(run.id, sub.id, "<lost@x>", now=RUN_AT)
    outcome = asyncio.run(run_digest(kit.make_config(tmp_path, port), store, "digest", RUN_AT))
    assert outcome.status == "sent"
    done = store.get_digest_run(run.id)
    assert done is not None
    return done


def _lines(output: str) -> list[str]:
    """The command's own lines (the test relay, in this process, logs to stderr too)."""
    return [line for line in output.strip().splitlines() if "mail.log" not in line]


def _invoke(config: Path, *args: str, answer: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), "digest", *args], input=answer)
    return result.exit_code, result.output


def test_resend_unknown_asks_then_sends_only_the_unknown_copies_once(
        tmp_path: Path, store_url: str, smtp_server: Server) -> None:
    handler, port = smtp_server
    from bot.store import open_store

    store = open_store(store_url)
    try:
        run = _run_with_two_unknown(tmp_path, store, port)
        assert sorted(handler.by_recipient()) == ["reader2@example.com", "reader3@example.com"]
        config = _config_file(tmp_path, store_url, port)

        code, out = _invoke(config, "resend-unknown", str(run.id), answer="n\n")
        assert code == 1 and "nothing sent" in out
        assert "reader0@example.com" in out and "2 to resend" in out
        assert len(handler.received) == 2

        # The relay's log shows reader1's copy arrived after all: leave it out.
        code, out = _invoke(config, "resend-unknown", str(run.id), "--except",
                            "Reader1@Example.com", answer="y\n")
        assert code == 0, out
        assert "1 to resend, 1 left out" in out and "1 sent" in out
        assert handler.by_recipient() == {"reader0@example.com": 1, "reader2@example.com": 1,
                                          "reader3@example.com": 1}
        # reader1's copy is now recorded as sent, on the operator's word.
        assert store.get_digest_run(run.id).sent_count == 4  # type: ignore[union-attr]

        code, out = _invoke(config, "resend-unknown", str(run.id), "--yes")
        assert code == 0 and "nothing to send" in out
        assert len(handler.received) == 3
    finally:
        store.close()


@pytest.mark.parametrize("status, words", [
    ("sending", "has not finished"),
    ("failed", "went back to the queue"),
])
def test_resend_unknown_refuses_a_run_that_is_open_or_abandoned(
        tmp_path: Path, digest_store: Store, smtp_server: Server, status: str,
        words: str) -> None:
    from bot.digest.resend import ResendError, plan_resend

    add_article(digest_store, 1)
    run = digest_store.start_digest_run("digest", scheduled_for=RUN_AT, now=RUN_AT,
                                        max_articles=30)
    assert run is not None
    if status == "failed":
        digest_store.finish_digest_run(run, status="failed", now=RUN_AT, error="abandoned")
    with pytest.raises(ResendError, match=words):
        plan_resend(digest_store, run.id)
    with pytest.raises(ResendError, match="does not exist"):
        plan_resend(digest_store, run.id + 100)


def test_test_copy_to_an_unreachable_relay_is_one_line_and_a_failure(tmp_path: Path) -> None:
    config = _config_file(tmp_path, f"sqlite:///{tmp_path / 'newsbot.db'}", free_port())
    code, out = _invoke(config, "send", "digest", "--to", "editor@example.org", "--allow-empty")
    assert code != 0
    assert "Traceback" not in out
    lines = _lines(out)
    assert len(lines) == 1, out
    assert lines[0].startswith("error: digest: test copy to editor@example.org not sent: "
                               "cannot reach the relay at 127.0.0.1:")


def test_test_copy_the_relay_refuses_is_one_line_with_its_answer(
        tmp_path: Path, smtp_server: Server) -> None:
    handler, port = smtp_server
    handler.rcpt_answers["editor@example.org"] = "550 5.1.1 no such mailbox"
    config = _config_file(tmp_path, f"sqlite:///{tmp_path / 'newsbot.db'}", port)
    code, out = _invoke(config, "send", "digest", "--to", "editor@example.org", "--allow-empty")
    assert code != 0 and "Traceback" not in out
    assert _lines(out) == [
        "error: digest: test copy to editor@example.org not sent: the relay at "
        f"127.0.0.1:{port} refused the address (550 5.1.1 no such mailbox)"]
