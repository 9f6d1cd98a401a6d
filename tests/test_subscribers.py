"""Subscribers: validation, statuses, CSV import/export, and the CLI commands."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.digest import subscriber_list as dc
from bot.store import Store
from tests import smtp_server as kit

digest_store = kit.digest_store  # fixture
NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_addresses_are_validated_and_normalised(digest_store: Store) -> None:
    sub = dc.subscribers_add(digest_store, "digest", "  Reader@Example.COM ", now=NOW)
    assert sub.email == "reader@example.com" and sub.status == "active"
    with pytest.raises(dc.SubscriberError, match="not a usable email address"):
        dc.subscribers_add(digest_store, "digest", "not-an-address", now=NOW)


def test_addresses_no_header_can_carry_are_refused_and_idn_domains_stored_as_ascii(
        digest_store: Store) -> None:
    with pytest.raises(dc.SubscriberError, match="not a usable email address"):
        dc.subscribers_add(digest_store, "digest", "ünïcode@example.org", now=NOW)
    sub = dc.subscribers_add(digest_store, "digest", "Reader@Bücher.example", now=NOW)
    assert sub.email == "reader@xn--bcher-kva.example"


def test_subscriptions_are_per_digest(digest_store: Store) -> None:
    dc.subscribers_add(digest_store, "morning", "a@example.com", now=NOW)
    dc.subscribers_add(digest_store, "weekly", "a@example.com", status="pending", now=NOW)
    counts = dc.subscribers_count(digest_store)
    assert counts == {"morning": {"active": 1}, "weekly": {"pending": 1}}
    assert dc.subscribers_remove(digest_store, "morning", "A@example.com")
    assert dc.subscribers_count(digest_store) == {"weekly": {"pending": 1}}
    assert not dc.subscribers_remove(digest_store, "morning", "a@example.com")


def test_import_reports_bad_rows_and_skips_known_addresses(tmp_path: Path,
                                                           digest_store: Store) -> None:
    dc.subscribers_add(digest_store, "digest", "known@example.com", now=NOW)
    csv_file = tmp_path / "subs.csv"
    csv_file.write_text("name,Email\nA,a@example.com\nB,bad address\nK,known@example.com\n"
                        "A again,A@EXAMPLE.com\n\n", encoding="utf-8")
    report = dc.subscribers_import(digest_store, "digest", csv_file, now=NOW)
    assert (report.added, report.existing) == (1, 1)
    assert [line for line, _, _ in report.invalid] == [3]


def test_import_without_header_uses_first_column(tmp_path: Path, digest_store: Store) -> None:
    csv_file = tmp_path / "plain.csv"
    csv_file.write_text("x@example.com\ny@example.com,ignored\n", encoding="utf-8")
    assert dc.subscribers_import(digest_store, "digest", csv_file, now=NOW).added == 2


def test_importing_a_large_list_adds_every_row_in_batches(tmp_path: Path,
                                                          digest_store: Store) -> None:
    # 20,000 rows: enough that a row-at-a-time import (a commit per reader) would take tens
    # of seconds, while the batched one takes about one; the generous bound catches that only.
    csv_file = tmp_path / "big.csv"
    csv_file.write_text("email\n" + "".join(f"reader{i}@example.com\n" for i in range(20_000)),
                        encoding="utf-8")
    started = time.perf_counter()
    report = dc.subscribers_import(digest_store, "digest", csv_file, now=NOW)
    elapsed = time.perf_counter() - started
    assert report.added == 20_000
    assert elapsed < 30, f"import took {elapsed:.1f}s"
    assert dc.subscribers_count(digest_store, "digest") == {"digest": {"active": 20_000}}


def test_export_writes_every_subscriber(digest_store: Store) -> None:
    for i in range(3):
        dc.subscribers_add(digest_store, "digest", f"r{i}@example.com", now=NOW)
    out = io.StringIO()
    assert dc.subscribers_export(digest_store, "digest", out) == 3
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("email,status") and lines[1].startswith("r0@example.com,active")


def test_cli_add_list_count_import_export(tmp_path: Path) -> None:
    from bot.cli import cli

    config = tmp_path / "config.yaml"
    config.write_text(f"""
store: sqlite:///{tmp_path / 'cli.db'}
secret_key: {kit.SECRET}
channels:
  digest:
    type: email
    from: "Newsroom <digest@news.example.org>"
    schedule: {{cron: "0 7 * * *"}}
""", encoding="utf-8")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "a@example.com: active on digest" in run("subscribers", "add", "digest",
                                                      "a@example.com")
    (tmp_path / "in.csv").write_text("email\nb@example.com\nnope\n", encoding="utf-8")
    assert "1 added, 0 already subscribed, 1 invalid" in run(
        "subscribers", "import", "digest", str(tmp_path / "in.csv"))
    assert "digest: 2 (0 pending, 2 active" in run("subscribers", "count")
    assert "b@example.com" in run("subscribers", "list", "digest")
    assert "b@example.com,active" in run("subscribers", "export", "digest")
    bad = runner.invoke(cli, ["--config", str(config), "subscribers", "add", "telegram",
                              "a@example.com"])
    assert bad.exit_code == 2 and "not an email channel" in bad.output
