"""Teasers (the story's first lines cut short) are recognised, replaced by the page's lede
when the page is fetched, and otherwise end cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Fetching
from bot.ingest import teaser
from bot.ingest.enrich import enrich
from bot.ingest.fetch import Fetcher
from bot.ingest.teaser import clean_teaser, is_teaser
from bot.models import FeedItem
from tests.feed_server import FeedServer

PAGES = Path(__file__).resolve().parent.parent / "examples" / "pages"
LEDE = "Iraqi forces are conducting consecutive offensives"
TEASER = ("Iraqi forces are conducting consecutive offensives against \"Islamic State of Iraq "
          "and Syria\" (ISIS) remnants to prevent ...")


def item(url: str, summary: str, summary_html: str = "", image: str | None = None,
         image_from_html: bool = False) -> FeedItem:
    return FeedItem(source_id="iraq-en", guid=url, url=url,
                    title="Iraqi forces stage back-to-back raids on ISIS", summary=summary,
                    summary_html=summary_html or summary, image_url=image,
                    image_from_html=image_from_html)


def fetcher() -> Fetcher:
    return Fetcher(Fetching.model_validate({"timeout": 2, "allow_private": ["127.0.0.0/8"]}))


@pytest.mark.parametrize("summary", [
    TEASER,
    "Iraqi forces are conducting consecutive offensives against ISIS remnants to prevent…",
    "Iraqi forces are conducting consecutive offensives against ISIS remnants to prevent […]",
    "Iraqi forces are conducting consecutive offensives against ISIS remnants. Read more »",
    "Iraqi forces are conducting consecutive offensives against ISIS remnants. Continue reading",
    "Iraqi forces are conducting consecutive offensives against ISIS remnants to",
])
def test_teasers_are_recognised(summary: str) -> None:
    assert is_teaser(summary)


def test_a_summary_that_is_the_start_of_the_pages_lede_is_a_teaser() -> None:
    lede = "Oil exports rose in November. The ministry said revenue reached a record."
    assert is_teaser("Oil exports rose in November.", lede)
    assert not is_teaser("Oil exports rose in November.")
    assert not is_teaser("Crude sales hit a high, the ministry said.", lede)


@pytest.mark.parametrize(("teaser", "clean"), [
    (TEASER, "Iraqi forces are conducting consecutive offensives against \"Islamic State of "
             "Iraq and Syria\" (ISIS) remnants to prevent…"),
    ("Forces moved on the remnants to prev...", "Forces moved on the remnants to…"),
    ("Forces moved on the remnants, […]", "Forces moved on the remnants…"),
    ("Forces moved on the remnants. Read more »", "Forces moved on the remnants."),
    ("Forces moved … … Continue reading →", "Forces moved…"),
    ("A finished summary of the story.", "A finished summary of the story."),
])
def test_a_kept_teaser_ends_with_a_whole_word_and_one_ellipsis(teaser: str, clean: str) -> None:
    assert clean_teaser(teaser) == clean


async def test_auto_mode_replaces_a_teaser_with_the_pages_lede(feed_server: FeedServer) -> None:
    url = feed_server.add_file("/raids", PAGES / "iraq-back-to-back-raids.html")
    enriched, problem = await _enrich(item(url, TEASER, f"<p>{TEASER}</p>"), "auto")
    assert problem is None
    assert enriched.summary.startswith(LEDE)
    assert not enriched.summary.endswith(("...", "…"))
    assert enriched.summary_html == ""  # the digest shows the lede, not the feed's stub


async def test_never_mode_keeps_the_teaser_and_ends_it_cleanly(feed_server: FeedServer) -> None:
    url = feed_server.add_file("/raids", PAGES / "iraq-back-to-back-raids.html")
    enriched, _ = await _enrich(item(url, TEASER), "never")
    assert enriched.summary.endswith("remnants to prevent…")
    assert feed_server.requests == []


async def test_a_teaser_whose_page_fails_ends_cleanly(feed_server: FeedServer) -> None:
    url = feed_server.add("/gone", b"", status=404)
    enriched, problem = await _enrich(item(url, TEASER), "auto")
    assert problem is not None and "404" in problem
    assert enriched.summary.endswith("to prevent…")


async def test_always_mode_keeps_an_editors_summary_that_is_not_a_teaser(
        feed_server: FeedServer) -> None:
    url = feed_server.add_file("/raids", PAGES / "iraq-back-to-back-raids.html")
    summary = "Security forces keep up pressure on ISIS cells in four provinces, officials say."
    enriched, _ = await _enrich(item(url, summary), "always")
    assert enriched.summary == summary
    assert enriched.text.startswith(LEDE)


async def test_the_pages_og_image_beats_an_image_from_the_feeds_html(
        feed_server: FeedServer) -> None:
    url = feed_server.add_file("/raids", PAGES / "iraq-back-to-back-raids.html")
    enriched, _ = await _enrich(item(url, TEASER, image="https://news.example.org/thumb.jpg",
                                     image_from_html=True), "auto")
    assert enriched.image_url == "https://news.example.org/media/2026/11/sharqat-operation.jpg"


async def _enrich(original: FeedItem, mode: str) -> tuple[FeedItem, str | None]:
    async with fetcher() as f:
        return await enrich(original, f, mode=mode)


def test_a_feed_summary_loses_the_caption_and_byline_its_html_put_first() -> None:
    from bot.ingest.enrich import tidy_summary

    summary = ("Salaheddine police on patrol in al-Sharqat. [Photo courtesy of the Iraqi "
               "Ministry of Interior]\n\nBy Alaa Hussain\n\nIraqi forces are conducting "
               "consecutive offensives against ISIS remnants, officials said.")
    tidied = tidy_summary(item("https://x/a", summary, f"<p>{summary}</p>"))
    assert tidied.summary.startswith("Iraqi forces are conducting")
    assert tidied.summary_html == ""


def test_a_plain_feed_summary_is_left_as_it_is() -> None:
    from bot.ingest.enrich import tidy_summary

    original = item("https://x/a", "Iraqi forces keep up raids on ISIS cells, officials said.")
    assert tidy_summary(original) == original


_PIECES = ["Forces moved on", " ", "  ", "\n", "said.", "said", ".", "..", "...", "....", "…",
           "[…]", "[ ... ]", "(…)", "( ... )", ")", "]", "Read more", "READ MORE", "more",
           "Continue reading", "keep reading", "read the full story", "FULL STORY", "article",
           "Read The Rest", "The post Budget talks appeared first on Example News",
           "THE POST X APPEARED FIRST ON Y", "The post", "appeared first on", "»", "›", "→",
           ">", ">>", "اقرأ المزيد", "تابع القراءة", "阅读全文", "続きを読む", "ſ", "K", "x"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=8))
def test_the_quick_check_for_a_cut_mark_never_skips_one_the_full_pattern_strips(
        pieces: list[str]) -> None:
    text = "".join(pieces)
    slow = text
    for _ in range(5):  # _strip_tail without its quick check
        stripped = teaser._TEASER_TAIL.sub("", slow).rstrip()
        if stripped == slow:
            break
        slow = stripped
    assert teaser._strip_tail(text) == slow
    assert clean_teaser(text) == clean_teaser(text + " ")  # the spaced path agrees too
