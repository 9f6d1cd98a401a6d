"""What `newsbot history` suggests after its list: never an action that cannot work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.store import open_store
from tests.test_corrections import STORE_CONFIG, item, poll_again, sent_article


def test_history_does_not_offer_retry_for_a_correction_the_platform_cannot_make(
        tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"store: sqlite:///{tmp_path / 'h.db'}\n" + STORE_CONFIG)
    now = datetime.now(UTC)
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        sent_article(store, ("xe",), sent_at=now - timedelta(hours=1))
        poll_again(store, STORE_CONFIG, item("Border guards tighten watch, officials say"), now)
    finally:
        store.close()
    result = CliRunner().invoke(cli, ["--config", str(config), "history", "--status", "skipped"])
    assert result.exit_code == 0, result.output
    assert "[correction 1]" in result.output and "cannot edit a sent post" in result.output
    assert "`newsbot retry" not in result.output
    assert "retrying it only fails it" in result.output
