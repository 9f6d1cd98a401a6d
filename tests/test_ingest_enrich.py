"""enrich: fetch the article page only when the feed's summary cannot stand alone."""

from __future__ import annotations

from pathlib import Path

from bot.config import Fetching
from bot.ingest.enrich import enrich, needs_page
from bot.ingest.fetch import Fetcher
from bot.models import FeedItem
from tests.feed_server import FeedServer

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "examples" / "pages"
GOOD_SUMMARY = (
    "Crude exports from the southern terminals averaged 3.4 million barrels a day in November, "
    "the Oil Ministry said."
)


def item(url: str, summary: str = "", image: str | None = None) -> FeedItem:
    return FeedItem(
        source_id="iraq-en",
        guid=url,
        url=url,
        title="Iraqi forces stage back-to-back raids on ISIS",
        summary=summary,
        image_url=image,
    )


def fetcher(**kwargs: object) -> Fetcher:
    # The article pages are served from loopback: allowed here as a private network would be.
    settings = Fetching.model_validate({"timeout": 2, "allow_private": ["127.0.0.0/8"]})
    return Fetcher(settings, **kwargs)  # type: ignore[arg-type]


def test_an_empty_or_short_or_title_only_summary_needs_the_page() -> None:
    assert needs_page(item("https://x/a", ""))
    assert needs_page(item("https://x/a", "The first berth is ready."))
    assert needs_page(item("https://x/a", "Iraqi forces stage back-to-back raids on ISIS"))
    assert not needs_page(item("https://x/a", GOOD_SUMMARY))


async def test_auto_mode_fills_an_empty_summary_from_the_page(feed_server: FeedServer) -> None:
    url = feed_server.add_file(
        "/en/2026/11/iraq-back-to-back-raids", PAGES / "iraq-back-to-back-raids.html"
    )
    async with fetcher() as f:
        enriched, problem = await enrich(item(url), f, mode="auto")
    assert problem is None
    assert enriched.summary.startswith("Iraqi forces are conducting consecutive offensives")
    assert "Do you like this article?" not in enriched.text
    assert enriched.text.endswith("al-Aasam said.")
    assert enriched.image_url == "https://news.example.org/media/2026/11/sharqat-operation.jpg"


async def test_auto_mode_leaves_a_usable_summary_alone(feed_server: FeedServer) -> None:
    url = feed_server.add_file("/page", PAGES / "iraq-back-to-back-raids.html")
    original = item(url, GOOD_SUMMARY)
    async with fetcher() as f:
        enriched, problem = await enrich(original, f, mode="auto")
    assert (enriched, problem) == (original, None)
    assert feed_server.requests == []


async def test_always_mode_fetches_even_with_a_good_summary(feed_server: FeedServer) -> None:
    url = feed_server.add_file("/page", PAGES / "iraq-back-to-back-raids.html")
    async with fetcher() as f:
        enriched, _ = await enrich(item(url, GOOD_SUMMARY), f, mode="always")
    assert enriched.text.startswith("Iraqi forces are conducting")


async def test_never_mode_never_fetches(feed_server: FeedServer) -> None:
    url = feed_server.add_file("/page", PAGES / "iraq-back-to-back-raids.html")
    original = item(url)
    async with fetcher() as f:
        assert await enrich(original, f, mode="never") == (original, None)
    assert feed_server.requests == []


async def test_the_feeds_own_image_is_kept(feed_server: FeedServer) -> None:
    url = feed_server.add_file("/page", PAGES / "iraq-back-to-back-raids.html")
    async with fetcher() as f:
        enriched, _ = await enrich(
            item(url, image="https://news.example.org/feed.jpg"), f, mode="auto"
        )
    assert enriched.image_url == "https://news.example.org/feed.jpg"


async def test_a_failing_page_is_a_problem_and_the_item_is_kept(feed_server: FeedServer) -> None:
    url = feed_server.add("/gone", b"", status=404)
    original = item(url)
    async with fetcher() as f:
        enriched, problem = await enrich(original, f, mode="auto")
    assert enriched == original
    assert problem is not None and "HTTP 404" in problem and url in problem


async def test_a_refused_connection_is_a_problem_not_an_exception(closed_port_url: str) -> None:
    async with fetcher() as f:
        enriched, problem = await enrich(item(closed_port_url), f, mode="auto")
    assert enriched.summary == ""
    assert problem is not None and "could not connect" in problem


async def test_offline_sample_pages_enrich_sample_items() -> None:
    url = "https://news.example.org/en/2026/11/grand-faw-first-berth"
    async with fetcher(offline_pages=PAGES) as f:
        enriched, problem = await enrich(item(url, "The first berth is ready."), f, mode="auto")
    assert problem is None
    assert enriched.summary.startswith("The first container berth at Grand Faw Port")
    assert "Share this article" not in enriched.text
