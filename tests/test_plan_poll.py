"""max_per_poll at ingest: one poll's burst keeps its newest posts; the rest queue or are
dropped, and a dropped one is still a row (skipped, with a note), never silently absent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.ingest.poll import make_fetcher, poll_source
from bot.models import DeliveryStatus
from bot.plan import PRIORITY_OVERFLOW
from bot.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ITEM = """<item><title>Story {n}</title><link>https://news.example.org/{n}</link>
<guid>g{n}</guid><description>Story number {n} in a sentence.</description>
<pubDate>Tue, 24 Nov 2026 10:{n:02d}:00 +0000</pubDate></item>"""
CONFIG = """
timezone: UTC
fetch: {offline_pages: pages}
sources: [{id: en, url: feed.xml, fetch_pages: never}]
channels:
  tg:
    type: telegram
    chat: "@c"
    schedule: {max_per_poll: 2, overflow: OVERFLOW}
"""


@pytest.mark.parametrize("overflow", ["queue", "drop"])
async def test_a_burst_beyond_max_per_poll_overflows_as_configured(
        store: Store, tmp_path: Path, overflow: str) -> None:
    items = "".join(ITEM.format(n=n) for n in range(1, 6))
    (tmp_path / "feed.xml").write_text(
        f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>", encoding="utf-8")
    (tmp_path / "pages").mkdir()
    config = parse_config(CONFIG.replace("OVERFLOW", overflow), base_dir=tmp_path)
    async with make_fetcher(config) as fetcher:
        report = await poll_source(config.sources[0], config=config, store=store,
                                   fetcher=fetcher, now=NOW)
    assert report.ok and report.new == 5
    rows = store.deliveries()
    assert len(rows) == 5  # every article has its row
    titles = store.get_articles([d.article_id for d in rows])
    kept = sorted(titles[d.article_id].title for d in rows
                  if d.status is DeliveryStatus.PENDING and d.priority == 0)
    assert kept == ["Story 4", "Story 5"]  # the newest two
    others = [d for d in rows if titles[d.article_id].title not in kept]
    if overflow == "drop":
        assert {d.status for d in others} == {DeliveryStatus.SKIPPED}
        assert all("max_per_poll" in d.note for d in others)
    else:
        assert {(d.status, d.priority) for d in others} == {
            (DeliveryStatus.PENDING, PRIORITY_OVERFLOW)}
