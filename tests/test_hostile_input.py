"""Hostile input: each bad feed, page or image is bounded in time and memory, reported against
its own source, and never stops the other sources of the same poll.

Every feed test polls ``[hostile, good]`` together over the loopback feed server and checks
all three: the good source's articles arrive, the hostile source's error (or problem) names
it, and the poll finished within a generous time and memory bound.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.channels.x import XSender
from bot.channels.x_media import MAX_IMAGE_BYTES, MediaFailure, fetch_image
from bot.channels.x_platform import XChannel
from bot.config import Config
from bot.ingest.parse import MAX_ITEMS, MAX_TITLE, parse_feed
from bot.ingest.poll import PollReport, make_fetcher, poll_sources
from bot.models import RenderedPost
from bot.store import Store, open_store
from tests.fakes.x_api import FakeXApi
from tests.feed_server import LOOPBACK_ALLOWED, FeedServer, Route

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PUBLISHED = "Tue, 24 Nov 2026 11:00:00 GMT"
SUMMARY = (
    "Officials said on Tuesday that the new water-sharing agreement would be signed next "
    "month, after two years of talks between the ministries."
)
MB = 1_000_000
UNWANTED = {chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]} | {
    *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)), "\ufffd"
}


def rss(items: str, *, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Feed</title><link>https://news.example.org/</link>{items}</channel></rss>"
    ).encode("utf-8", "surrogateescape")  # lone surrogates \udc80-\udcff: invalid bytes


def item(title: str, slug: str, summary: str = SUMMARY) -> str:
    return (
        f"<item><title>{title}</title><link>https://news.example.org/{slug}</link>"
        f"<guid>https://news.example.org/{slug}</guid><pubDate>{PUBLISHED}</pubDate>"
        f"<description>{summary}</description></item>"
    )


GOOD_FEED = rss("".join(item(f"Good story {n}", f"good/{n}") for n in range(3)))


@dataclass(frozen=True)
class Poll:
    hostile: PollReport
    good: PollReport
    seconds: float
    peak_bytes: int


@contextmanager
def measured(memory: bool = True) -> Iterator[list[float]]:
    """Yields [seconds, peak traced bytes], filled in on exit (tracemalloc slows pure-Python
    parsing several times over: ``memory=False`` where only time matters)."""
    figures = [0.0, 0.0]
    if memory:
        tracemalloc.start()
    started = time.monotonic()
    try:
        yield figures
    finally:
        figures[0] = time.monotonic() - started
        if memory:
            figures[1] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'newsbot.db'}")
    yield opened
    opened.close()


async def poll_with_good(
    feed_server: FeedServer, store: Store, hostile_url: str, *, fetch_pages: str = "never",
    memory: bool = True,
) -> Poll:
    good_url = feed_server.add("/good.xml", GOOD_FEED)
    config = Config.model_validate(
        {
            # The hostile source's article pages are on loopback too: allowed, to reach them.
            "fetch": {"timeout": 5, "allow_private": ["127.0.0.0/8"]},
            "sources": [
                {"id": "hostile", "url": hostile_url, "fetch_pages": fetch_pages},
                {"id": "good", "url": good_url, "fetch_pages": "never"},
            ],
        }
    )
    with measured(memory) as figures:
        async with make_fetcher(config) as fetcher:
            reports = await poll_sources(config, store, now=NOW, fetcher=fetcher)
    by_id = {r.source_id: r for r in reports}
    return Poll(by_id["hostile"], by_id["good"], figures[0], int(figures[1]))


def assert_good_source_unharmed(store: Store, poll: Poll) -> None:
    assert poll.good.ok and poll.good.new == 3, poll.good
    for n in range(3):
        url = f"https://news.example.org/good/{n}"
        article = store.find_article(url=url, source_id="good", guid=url)
        assert article is not None and article.title == f"Good story {n}"


def assert_failed_against_its_source(store: Store, poll: Poll, words: str) -> None:
    assert not poll.hostile.ok
    assert poll.hostile.error.startswith("source hostile: ")
    assert words in poll.hostile.error
    state = store.source_state("hostile")
    assert words in state.last_error and state.consecutive_errors == 1


def hostile_article_titles(store: Store, slugs: list[str]) -> list[str]:
    titles = []
    for slug in slugs:
        url = f"https://news.example.org/{slug}"
        article = store.find_article(url=url, source_id="hostile", guid=url)
        assert article is not None, slug
        titles.append(article.title)
    return titles


# ---------------------------------------------------------------- entity expansion


def billion_laughs() -> tuple[str, str]:
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        entities.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    return f"<!DOCTYPE rss [{''.join(entities)}]>", "&lol9;"


def quadratic_blowup() -> tuple[str, str]:
    return f'<!DOCTYPE rss [<!ENTITY big "{"B" * 100_000}">]>', "&big;" * 10_000


@pytest.mark.parametrize("payload", [billion_laughs, quadratic_blowup])
async def test_entity_expansion_bombs_are_never_expanded(
    feed_server: FeedServer, store: Store, payload: object
) -> None:
    prolog, reference = payload()  # type: ignore[operator]
    body = rss(item(f"Bomb {reference}", "bomb") + item("Plain story", "plain"), prolog=prolog)
    poll = await poll_with_good(feed_server, store, feed_server.add("/bomb.xml", body))

    assert poll.seconds < 10 and poll.peak_bytes < 60 * MB
    assert_good_source_unharmed(store, poll)
    assert poll.hostile.ok, poll.hostile  # the items are read; the entities are not expanded
    bomb, plain = hostile_article_titles(store, ["bomb", "plain"])
    assert len(bomb) < 1_000 and "lollol" not in bomb and "BBBB" not in bomb
    assert plain == "Plain story"
    assert any("entities" in p and "ignored" in p for p in poll.hostile.problems)


def test_a_small_doctype_of_character_entities_is_still_honoured() -> None:
    prolog = '<!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY mdash "&#8212;">]>'
    body = rss(item("Dams&mdash;and&nbsp;rivers", "ents"), prolog=prolog)
    parsed = parse_feed("s", body, url="https://news.example.org/feed.xml")
    assert [i.title for i in parsed.items] == ["Dams\u2014and rivers"]
    assert parsed.problems == ()


# ---------------------------------------------------------------- size


@pytest.mark.parametrize("declare_length", [False, True])
async def test_a_50_mb_feed_is_refused_while_streaming(
    feed_server: FeedServer, store: Store, declare_length: bool
) -> None:
    # The server streams the 50 MB lazily; the fetcher stops at fetch.max_bytes (10 MB).
    url = feed_server.add_huge("/huge.xml", 50 * MB, declare_length=declare_length)
    poll = await poll_with_good(feed_server, store, url)

    assert poll.seconds < 10 and poll.peak_bytes < 40 * MB
    assert_good_source_unharmed(store, poll)
    assert_failed_against_its_source(store, poll, "larger than fetch.max_bytes")


async def test_a_feed_of_20000_items_is_cut_to_the_first_ones_quickly(
    feed_server: FeedServer, store: Store
) -> None:
    body = rss("".join(item(f"Story {n}", f"many/{n}") for n in range(20_000)))
    poll = await poll_with_good(feed_server, store, feed_server.add("/many.xml", body))

    assert poll.seconds < 10
    assert_good_source_unharmed(store, poll)
    assert poll.hostile.ok and poll.hostile.new == MAX_ITEMS
    assert any(f"20,000 items; only the first {MAX_ITEMS:,}" in p for p in poll.hostile.problems)
    assert hostile_article_titles(store, ["many/0", f"many/{MAX_ITEMS - 1}"]) == [
        "Story 0", f"Story {MAX_ITEMS - 1}"]
    url = f"https://news.example.org/many/{MAX_ITEMS}"
    assert store.find_article(url=url, source_id="hostile", guid=url) is None


async def test_a_1_mb_title_is_cut_to_a_sane_length(
    feed_server: FeedServer, store: Store
) -> None:
    huge_title = ("Word " * (MB // 5)).strip()
    body = rss(item(huge_title, "long") + item("Short one", "short"))
    poll = await poll_with_good(feed_server, store, feed_server.add("/long.xml", body))

    assert poll.seconds < 10 and poll.peak_bytes < 60 * MB
    assert_good_source_unharmed(store, poll)
    assert poll.hostile.ok and poll.hostile.new == 2
    long, short = hostile_article_titles(store, ["long", "short"])
    assert 0 < len(long) <= MAX_TITLE and long.startswith("Word Word") and long.endswith("…")
    assert short == "Short one"
    assert any("title is 999,999 characters; cut to" in p for p in poll.hostile.problems)


# ---------------------------------------------------------------- bad characters

BIDI_AND_CONTROLS = "".join(map(chr, range(0x202A, 0x202F))) + "\u2066\u2067\u2068\u2069"


async def test_invalid_utf8_controls_and_bidi_overrides_are_stripped_from_titles(
    feed_server: FeedServer, store: Store
) -> None:
    items = [
        item("Bad \udcff\udcfe bytes in the middle", "bytes"),
        item("Bell\x07 and \x01escape\x1b here", "controls"),
        item(f"Spoof {BIDI_AND_CONTROLS}gpj.exe", "bidi"),
        item("Refs &#x202E;reversed&#x2066; &#1;done", "refs"),
        item("بغداد \u202bتستضيف\u202c القمة", "arabic"),
    ]
    body = rss("".join(items))
    poll = await poll_with_good(feed_server, store, feed_server.add("/chars.xml", body))

    assert_good_source_unharmed(store, poll)
    assert poll.hostile.ok and poll.hostile.new == 5, poll.hostile
    titles = hostile_article_titles(store, ["bytes", "controls", "bidi", "refs", "arabic"])
    for title in titles:
        assert not set(title) & UNWANTED, ascii(title)
    assert titles == [
        "Bad bytes in the middle",
        "Bell and escape here",
        "Spoof gpj.exe",
        "Refs reversed done",
        "بغداد تستضيف القمة",  # one bad byte elsewhere must not turn the Arabic into mojibake
    ]
    assert any("invalid UTF-8" in p for p in poll.hostile.problems)
    assert any("control character" in p for p in poll.hostile.problems)


async def test_bidi_overrides_and_controls_are_stripped_from_json_feed_titles(
    feed_server: FeedServer, store: Store
) -> None:
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": "1",'
        ' "url": "https://news.example.org/json", "title": "A\\u202eB\\u0007C\\u2069D",'
        f' "summary": "{SUMMARY}", "date_published": "2026-11-24T11:00:00Z"}}]}}'
    )
    url = feed_server.add("/feed.json", body, content_type="application/feed+json")
    poll = await poll_with_good(feed_server, store, url)

    assert_good_source_unharmed(store, poll)
    assert hostile_article_titles(store, ["json"]) == ["ABCD"]


async def test_a_deeply_nested_json_feed_fails_only_its_source(
    feed_server: FeedServer, store: Store
) -> None:
    body = '{"version": "https://jsonfeed.org/version/1.1", "items": [' + "[" * 100_000
    url = feed_server.add("/deep.json", body + "]" * 100_001 + "}",
                          content_type="application/feed+json")
    poll = await poll_with_good(feed_server, store, url)

    assert poll.seconds < 10
    assert_good_source_unharmed(store, poll)
    assert_failed_against_its_source(store, poll, "nested too deeply")


async def test_a_feed_that_is_slow_to_parse_does_not_stall_the_event_loop(
    feed_server: FeedServer, store: Store
) -> None:
    # 50,000 elements: feedparser needs about a second, during which dispatch ticks and
    # /healthz must still be served (parsing runs in a worker thread).
    nested = "<a>" * 50_000 + "</a>" * 50_000
    body = rss(item("Heavy", "heavy").replace("</item>", nested + "</item>"))
    url = feed_server.add("/heavy.xml", body)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        poll = await poll_with_good(feed_server, store, url, memory=False)
    finally:
        ticking.cancel()
    took = time.monotonic() - started

    assert poll.hostile.ok and poll.hostile.new == 1
    assert_good_source_unharmed(store, poll)
    # Parsed on the loop, one gap would span nearly the whole poll; relative to the poll's
    # own duration, the bound holds on a busy machine too.
    assert max(gaps) < max(0.5, took / 3), (
        f"the event loop stalled for {max(gaps):.2f}s of a {took:.2f}s poll")


# ---------------------------------------------------------------- pages and redirects


@pytest.mark.parametrize("depth", [10_000, 100_000])
async def test_a_deeply_nested_article_page_neither_hangs_nor_loses_the_item(
    feed_server: FeedServer, store: Store, depth: int
) -> None:
    page = (
        "<html><head><title>Deep</title></head><body>" + "<div>" * depth
        + "<p>" + "A sentence at the bottom of the page. " * 20 + "</p>"
        + "</div>" * depth + "</body></html>"
    )
    feed_server.add("/deep", page, content_type="text/html; charset=utf-8")
    body = rss(
        "<item><title>Teaser only</title>"
        f"<link>{feed_server.url('/deep')}</link><pubDate>{PUBLISHED}</pubDate>"
        "<description>Short.</description></item>"
    )
    url = feed_server.add("/deep.xml", body)
    poll = await poll_with_good(feed_server, store, url, fetch_pages="always")

    assert poll.seconds < 10 and poll.peak_bytes < 100 * MB
    assert_good_source_unharmed(store, poll)
    assert poll.hostile.ok and poll.hostile.new == 1
    # Whatever the extractor made of it, the item is kept with its feed text at worst.
    page_url = feed_server.url("/deep")
    article = store.find_article(url=page_url, source_id="hostile", guid=page_url)
    assert article is not None and article.title == "Teaser only"


async def test_a_redirect_loop_fails_only_its_source(
    feed_server: FeedServer, store: Store
) -> None:
    feed_server.redirect("/loop-b", "/loop-a")
    url = feed_server.redirect("/loop-a", "/loop-b")
    poll = await poll_with_good(feed_server, store, url)

    assert poll.seconds < 10
    assert_good_source_unharmed(store, poll)
    assert_failed_against_its_source(store, poll, "redirects in a loop")
    assert len([r for r in feed_server.requests if r.path.startswith("/loop")]) <= 3


async def test_an_article_page_in_a_redirect_loop_keeps_the_item(
    feed_server: FeedServer, store: Store
) -> None:
    feed_server.redirect("/page-b", "/page-a")
    page_url = feed_server.redirect("/page-a", "/page-b")
    body = rss(
        f"<item><title>Looping page</title><link>{page_url}</link>"
        f"<pubDate>{PUBLISHED}</pubDate></item>"
    )
    poll = await poll_with_good(
        feed_server, store, feed_server.add("/loop.xml", body), fetch_pages="always"
    )

    assert_good_source_unharmed(store, poll)
    assert poll.hostile.ok and poll.hostile.new == 1
    assert any("redirects in a loop" in p for p in poll.hostile.problems)


# ---------------------------------------------------------------- images (the X channel)


def image_route(feed_server: FeedServer, path: str, size: int, content_type: str,
                *, declare_length: bool = False) -> str:
    headers = {"Content-Type": content_type}
    if declare_length:
        headers["Content-Length"] = str(size)
    feed_server.routes[path] = Route(status=200, headers=headers, stream_bytes=size)
    return feed_server.url(path)


@pytest.mark.parametrize("declare_length", [False, True])
async def test_a_100_mb_image_is_refused_at_the_cap(
    feed_server: FeedServer, declare_length: bool
) -> None:
    url = image_route(feed_server, "/huge.jpg", 100 * MB, "image/jpeg",
                      declare_length=declare_length)
    with measured() as figures:
        async with httpx.AsyncClient(timeout=5) as http:
            with pytest.raises(MediaFailure, match="cap"):
                await fetch_image(http, url)
    assert figures[0] < 10 and figures[1] < 4 * MAX_IMAGE_BYTES


async def test_an_image_url_that_serves_a_page_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.add("/photo.jpg", "<html>not a photo</html>", content_type="text/html")
    async with httpx.AsyncClient(timeout=5) as http:
        with pytest.raises(MediaFailure, match=r"not an image \(text/html\)"):
            await fetch_image(http, url)


async def test_an_x_post_with_a_100_mb_image_goes_out_without_it(
    feed_server: FeedServer, x_api: FakeXApi
) -> None:
    url = image_route(feed_server, "/huge.png", 100 * MB, "image/png")
    sender = XSender("x-test", XChannel(**x_api.channel_settings(media=True)),
                     url_policy=LOOPBACK_ALLOWED)
    try:
        with measured() as figures:
            receipt = await sender.send(RenderedPost(
                channel="x-test", article_id=1, text="Dams on the Tigris", image_url=url))
    finally:
        await sender.close()

    assert figures[0] < 10
    assert [t.text for t in x_api.tweets] == ["Dams on the Tigris"]
    assert "sent without image" in receipt.note and "cap" in receipt.note
