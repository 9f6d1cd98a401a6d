"""Fetch then parse, as the pipeline does, against the loopback feed server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Fetching
from bot.errors import SourceError
from bot.ingest.fetch import Fetcher
from bot.ingest.parse import parse_feed
from tests.feed_server import FeedServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def fetch_and_parse(url: str, source_id: str = "s") -> tuple[int, tuple[str, ...]]:
    async with Fetcher(Fetching.model_validate({"timeout": 2})) as fetcher:
        result = await fetcher.fetch_source(url, source_id=source_id)
    parsed = parse_feed(source_id, result.body, url=result.url, headers=result.header_map())
    return len(parsed.items), parsed.problems


@pytest.mark.parametrize(
    ("name", "count"), [("en.rss.xml", 6), ("ar.atom.xml", 4), ("world.json", 3)]
)
async def test_each_sample_feed_served_over_http_parses_cleanly(
    feed_server: FeedServer, name: str, count: int
) -> None:
    url = feed_server.add_file(f"/{name}", EXAMPLES / "feeds" / name)
    assert await fetch_and_parse(url) == (count, ())


async def test_a_served_charset_that_contradicts_the_bytes_is_a_problem(
    feed_server: FeedServer,
) -> None:
    body = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>x</title>"
        "<item><title>Caf\u00e9</title><link>https://news.example.org/c</link></item>"
        "</channel></rss>"
    ).encode("windows-1252")
    url = feed_server.add("/feed.xml", body, content_type="application/rss+xml; charset=utf-8")
    count, problems = await fetch_and_parse(url)
    assert count == 1
    assert "declared character encoding was wrong" in problems[0]


async def test_an_html_page_served_where_a_feed_was_expected_is_an_error(
    feed_server: FeedServer,
) -> None:
    url = feed_server.add_file("/en/", EXAMPLES / "pages" / "iraq-back-to-back-raids.html")
    with pytest.raises(SourceError, match="got an HTML page, not a feed") as caught:
        await fetch_and_parse(url, "iraq-en")
    assert caught.value.source_id == "iraq-en"


async def test_an_empty_200_response_is_an_error(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.xml", b"")
    with pytest.raises(SourceError, match="empty body"):
        await fetch_and_parse(url)
