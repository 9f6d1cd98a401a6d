"""The golden pages: for each article page in tests/data/pages, what a follower must read.

Each NAME.html is a page in one of the shapes newsrooms publish (WordPress, Drupal, Arc with
JSON-LD and __NEXT_DATA__, Ghost, Substack, AMP, a live blog, a gallery, a paywalled teaser,
Arabic and CJK pages, pages with newsletter boxes, hover-cards and "Related" blocks …), and
NAME.json beside it says what the extractor must make of it: the headline, how the lede
starts, what it must never contain (byline, caption, promo, related headline, hover-card
text), and the lead image. ``benchmarks/ledes.py`` prints the same judgement as figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.ingest.extract import extract_page

PAGES = Path(__file__).resolve().parent / "data" / "pages"
GOLDEN = sorted(PAGES.glob("*.html"))


def squash(text: str) -> str:
    return " ".join(text.split())


def test_there_are_at_least_forty_golden_pages() -> None:
    assert len(GOLDEN) >= 40


@pytest.mark.parametrize("page_file", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_page(page_file: Path) -> None:
    expected = json.loads(page_file.with_suffix(".json").read_text(encoding="utf-8"))
    page = extract_page(page_file.read_bytes(), expected["url"])

    assert page.title == expected["title"]
    assert squash(page.lede).startswith(squash(expected["lede_starts"])), page.lede
    for phrase in expected["lede_must_not_contain"]:
        assert phrase.casefold() not in page.lede.casefold(), f"{phrase!r} in {page.lede!r}"
    assert page.image_url == expected["image"]
