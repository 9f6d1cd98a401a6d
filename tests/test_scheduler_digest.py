"""A digest channel without SMTP credentials previews its round-up at cron time, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.config import load_config
from bot.models import DeliveryStatus
from bot.scheduler import Service
from bot.store import open_store


def test_preview_digest_at_cron_consumes_its_articles_but_catch_up_does_not(
        project: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "once"])
    assert result.exit_code == 0, result.output
    config = load_config(project / "config.yaml")
    store = open_store(config.store_url)
    try:
        service = Service(project / "config.yaml", config, store, is_leader=True)
        pending = [DeliveryStatus.PENDING]
        assert len(store.deliveries(statuses=pending, channel="morning-digest")) == 13

        asyncio.run(service.digest_tick("morning-digest", catch_up=True))
        assert len(store.deliveries(statuses=pending, channel="morning-digest")) == 13

        asyncio.run(service.digest_tick("morning-digest"))
        assert store.deliveries(statuses=pending, channel="morning-digest") == []
        skipped = store.deliveries(statuses=[DeliveryStatus.SKIPPED], channel="morning-digest")
        assert len(skipped) == 13 and "SMTP_HOST" in skipped[0].note
        assert list((project / "preview" / "morning-digest").glob("*.eml"))
    finally:
        store.close()
