"""A digest channel in preview previews its round-up at cron time, once; one that only lacks
its SMTP settings keeps its articles for when they are set."""

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
    path = project / "config.yaml"
    path.write_text(path.read_text().replace("    title: Morning digest\n",
                                             "    title: Morning digest\n    preview: true\n"))
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
        assert len(skipped) == 13 and "preview: true" in skipped[0].note
        assert list((project / "preview" / "morning-digest").glob("*.eml"))
    finally:
        store.close()


def test_a_digest_without_its_smtp_host_keeps_its_articles_at_cron_time(project: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "once"])
    assert result.exit_code == 0, result.output
    config = load_config(project / "config.yaml")
    store = open_store(config.store_url)
    try:
        service = Service(project / "config.yaml", config, store, is_leader=True)
        asyncio.run(service.digest_tick("morning-digest"))
        pending = store.deliveries(statuses=[DeliveryStatus.PENDING], channel="morning-digest")
        assert len(pending) == 13  # nothing thrown away: they go once SMTP_HOST is set
        views = service.views()
        assert views["morning-digest"].mode == "needs attention"
        assert "SMTP_HOST" in views["morning-digest"].why
    finally:
        store.close()
