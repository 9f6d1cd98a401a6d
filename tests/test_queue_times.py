"""`newsbot queue` shows the same expected times as `newsbot plan` (gaps, windows and caps
applied), never the raw earliest due time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.config import load_config
from bot.models import FeedItem
from bot.plan import plan_article
from bot.store import open_store
from tests.kit import newsroom_yaml

CONFIG = newsroom_yaml("""
tg:
  type: telegram
  chat: "@c"
  schedule: {min_gap: 10m, max_per_day: 2}
""", timezone="Asia/Baghdad", store="sqlite:///bot.db")


def times_by_id(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        match = re.match(r"\s*#?(\d+)\s+(?:tg\s+\S+\s+)?(\w{3} \d\d \w{3} \d\d:\d\d \S+|—)",
                         line)
        if match:
            found[match[1]] = match[2]
    return found


def test_queue_times_are_plans_times(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "config.yaml")
    now = datetime.now(UTC)
    with open_store(config.store_url) as store:
        for n in range(3):
            article, _ = store.add_article(FeedItem(
                source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}",
                title=f"Title {n}", published=now), now=now)
            store.create_deliveries(article.id, plan_article(article, config, now=now),
                                    now=now)
    run = CliRunner()
    queue = run.invoke(cli, ["--config", str(tmp_path / "config.yaml"), "queue"]).output
    plan = run.invoke(cli, ["--config", str(tmp_path / "config.yaml"), "plan"]).output
    queued, planned = times_by_id(queue), times_by_id(plan)
    assert len(queued) == 3 and queued == planned, (queue, plan)
    assert len(set(queued.values())) == 3  # 10 minutes apart, then the next day (cap of 2)
