"""Golden feeds: every document in tests/data/feeds/ beside the FeedItems it must give.

Each ``NAME.expected.json`` holds the items, field for field, and which parser reads the
feed: ``fastfeedparser`` (then feedparser alone must give the very same items: the fast path
changes nothing a user sees), ``feedparser`` (fastfeedparser's result failed a check, and the
whole feed fell back), or ``jsonfeed``. A change in behaviour shows up as a diff of these
files. After a deliberate change, rewrite them with

    NEWSBOT_REGEN_GOLDEN=1 .venv/bin/pytest tests/test_feed_golden.py

and read the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot.ingest.parse import FASTFEEDPARSER, ParsedFeed, parse_feed
from bot.models import FeedItem

FEEDS = Path(__file__).parent / "data" / "feeds"
DOCUMENTS = sorted(p for p in FEEDS.iterdir() if p.suffix in (".xml", ".json")
                   and not p.name.endswith(".expected.json"))
REGEN = os.environ.get("NEWSBOT_REGEN_GOLDEN") == "1"


def _as_json(item: FeedItem) -> dict[str, Any]:
    fields = dataclasses.asdict(item)
    fields["sections"] = list(item.sections)
    fields["published"] = item.published.isoformat() if item.published else None
    return fields


def _parse(path: Path, *, fast: bool) -> ParsedFeed:
    return parse_feed("golden", path.read_bytes(), url=f"https://news.example.org/feeds/{path.name}",
                      language="en", fast=fast)


def test_the_corpus_covers_at_least_sixty_documents() -> None:
    assert len(DOCUMENTS) >= 60


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_feed_gives_its_golden_items_through_both_parsers(path: Path) -> None:
    expected_file = path.with_name(path.name.rsplit(".", 1)[0] + ".expected.json")
    fast = _parse(path, fast=True)
    reference = _parse(path, fast=False)
    got = {"parser": fast.parser, "items": [_as_json(i) for i in fast.items]}
    if REGEN:
        expected_file.write_text(json.dumps(
            {"parser": fast.parser, "items": [_as_json(i) for i in reference.items]},
            indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    assert got["parser"] == expected["parser"], fast.fallback_reason
    if fast.parser == FASTFEEDPARSER:
        # the fast path must change nothing: feedparser alone gives the same items
        assert [_as_json(i) for i in reference.items] == expected["items"]
    assert got["items"] == expected["items"]
