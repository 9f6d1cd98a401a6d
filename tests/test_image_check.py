"""A lead image is a real picture: judged from the markup first, then by one bounded request
to a real local server that serves each kind of bad image (pixel, 1×1 GIF, HTML, 404, huge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import parse_config
from bot.ingest.image_check import ImageChecker, check_item_images
from bot.ingest.image_rules import image_refusal
from bot.ingest.image_size import image_size
from bot.ingest.items import pick_image
from bot.ingest.poll import make_fetcher, poll_source
from bot.models import FeedItem
from bot.store import Store
from bot.urlpolicy import UrlPolicy
from tests.feed_server import LOOPBACK_ALLOWED, FeedServer
from tests.images import ONE_PIXEL_GIF, jpeg_header, png


def checker(**kwargs: object) -> ImageChecker:
    return ImageChecker(LOOPBACK_ALLOWED, timeout=2, **kwargs)  # type: ignore[arg-type]


# -- the markup alone ----------------------------------------------------------------------

@pytest.mark.parametrize("html", [
    '<img src="/pixel.gif?track=1" width="1" height="1">',
    '<img src=x onerror="alert(1)">',
    '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">',
    '<img src="https://stats.example.org/track/open.gif?u=9">',
    '<img src="https://news.example.org/icons/logo.png" width="40" height="40">',
    '<img src="https://news.example.org/story.html">',
])
def test_feed_html_images_that_cannot_be_pictures_are_skipped(html: str) -> None:
    url, _, _ = pick_image([], f"<p>Story.</p>{html}", "https://news.example.org/a")
    assert url is None


def test_the_first_real_picture_in_the_feed_html_is_taken_after_a_pixel() -> None:
    html = ('<img src="/pixel.gif?track=1" width="1" height="1">'
            '<img src="/media/2026/11/crane.jpg" alt="A crane at Umm Qasr" width="1200">')
    url, alt, from_html = pick_image([], html, "https://news.example.org/a")
    assert url == "https://news.example.org/media/2026/11/crane.jpg"
    assert alt == "A crane at Umm Qasr" and from_html


@pytest.mark.parametrize("url", [
    "https://news.example.org/wp-content/uploads/2026/11/open-day-1200x675.jpg",
    "https://cdn.example.org/resizer/v2/ABC.jpg?auth=3f&width=1200",
    "https://i.example.org/img/media/abc/master/1200.jpg?width=1200&s=1",
])
def test_ordinary_photo_urls_pass_the_markup_rules(url: str) -> None:
    assert image_refusal(url) == ""


def test_sizes_are_read_from_the_first_bytes() -> None:
    assert image_size(png(1200, 630)) == (1200, 630)
    assert image_size(ONE_PIXEL_GIF) == (1, 1)
    assert image_size(jpeg_header(1600, 900)) == (1600, 900)
    assert image_size(b"<html>") is None


# -- one bounded request -------------------------------------------------------------------

async def test_a_real_picture_passes_with_its_size(feed_server: FeedServer) -> None:
    url = feed_server.add("/media/photo.png", png(1200, 630), content_type="image/png")
    async with checker() as c:
        verdict = await c.check(url)
    assert verdict.ok, verdict.problem
    assert (verdict.width, verdict.height) == (1200, 630)
    assert feed_server.requests[-1].headers.get("range") == "bytes=0-65535"


@pytest.mark.parametrize(("path", "body", "content_type", "status", "why"), [
    ("/media/one.gif", ONE_PIXEL_GIF, "image/gif", 200, "1×1 px"),
    ("/media/thumb.png", png(150, 80), "image/png", 200, "150×80 px"),
    ("/media/page.jpg", b"<html><body>Not found</body></html>", "text/html", 200,
     "serves text/html"),
    ("/media/gone.jpg", b"", "image/jpeg", 404, "HTTP 404"),
    ("/media/logo.svg", b"<svg/>", "image/svg+xml", 200, "svg"),
])
async def test_a_bad_image_fails_with_the_reason(
        feed_server: FeedServer, path: str, body: bytes, content_type: str, status: int,
        why: str) -> None:
    url = feed_server.add(path, body, content_type=content_type, status=status)
    async with checker() as c:
        verdict = await c.check(url)
    assert not verdict.ok
    assert why in verdict.problem


async def test_an_image_over_five_megabytes_fails_without_being_downloaded(
        feed_server: FeedServer) -> None:
    url = feed_server.add("/media/huge.jpg", jpeg_header(8000, 6000) + b"\0" * (6 * 2**20),
                          content_type="image/jpeg")
    async with checker() as c:
        verdict = await c.check(url)
    assert "over the 5,242,880 byte limit" in verdict.problem


async def test_an_image_on_an_internal_address_is_refused_by_the_url_policy(
        feed_server: FeedServer) -> None:
    url = feed_server.add("/media/photo.png", png(1200, 630), content_type="image/png")
    async with ImageChecker(UrlPolicy(), timeout=2) as c:
        verdict = await c.check(url)
    assert "loopback" in verdict.problem
    assert feed_server.requests == []


async def test_each_image_is_checked_once_however_many_items_share_it(
        feed_server: FeedServer) -> None:
    url = feed_server.add("/media/one.gif", ONE_PIXEL_GIF, content_type="image/gif")
    items = [FeedItem(source_id="s", guid=f"g{n}", url=f"https://n.example/{n}", title="t",
                      image_url=url) for n in range(3)]
    async with checker() as c:
        checked = await check_item_images(items, c)
    assert all("1×1" in i.image_problem for i in checked)
    assert len(feed_server.requests) == 1


# -- at ingest, and what followers then see --------------------------------------------------

FEED = """<rss version='2.0' xmlns:media='http://search.yahoo.com/mrss/'><channel><title>t</title>
<item><title>Cranes at Umm Qasr</title><link>https://news.example.org/cranes</link>
<description>Four gantry cranes began work at Umm Qasr port on Sunday, doubling its capacity,
the ports company said.</description><media:content url='IMAGE' medium='image'/></item>
</channel></rss>"""
CONFIG = """
timezone: UTC
fetch: {timeout: 2s, allow_private: [127.0.0.0/8]}
sources: [{id: en, url: FEED, fetch_pages: never}]
channels:
  tg: {type: telegram, chat: "@c"}
"""


async def poll_with_image(feed_server: FeedServer, store: Store, tmp_path: Path,
                          image_url: str) -> int:
    from datetime import UTC, datetime

    feed = feed_server.add("/feed.xml", FEED.replace("IMAGE", image_url))
    config = parse_config(CONFIG.replace("FEED", feed), base_dir=tmp_path)
    async with make_fetcher(config) as fetcher:
        report = await poll_source(config.sources[0], config=config, store=store,
                                   fetcher=fetcher, now=datetime.now(UTC))
    assert report.ok and report.new == 1
    return store.deliveries()[0].article_id


async def test_an_image_that_fails_at_ingest_is_kept_on_the_article(
        feed_server: FeedServer, sqlite_store: Store, tmp_path: Path) -> None:
    image = feed_server.add("/media/gone.jpg", b"", status=404)
    article = sqlite_store.get_article(await poll_with_image(feed_server, sqlite_store,
                                                             tmp_path, image))
    assert article.image_url == image
    assert "HTTP 404" in article.image_problem


async def test_a_good_image_at_ingest_stays_usable(
        feed_server: FeedServer, sqlite_store: Store, tmp_path: Path) -> None:
    image = feed_server.add("/media/cranes.png", png(1200, 630), content_type="image/png")
    article = sqlite_store.get_article(await poll_with_image(feed_server, sqlite_store,
                                                             tmp_path, image))
    assert article.image_url == image and article.image_problem == ""


async def test_a_failed_image_means_a_text_post_with_the_reason_in_history(
        sqlite_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from bot.channels.telegram import make_format
    from bot.cli.format import print_history
    from bot.dispatch import Dispatcher
    from bot.models import DeliveryStatus
    from bot.outlets import Outlet
    from bot.plan import plan_article
    from bot.render import make_environment
    from tests.test_dispatch import FakeChannel

    now = datetime.now(UTC)
    config = parse_config("timezone: UTC\nsources: [{id: en, url: feed.xml}]\nchannels:\n"
                          "  tg: {type: telegram, chat: '@c', token: x, photo: auto}\n",
                          base_dir=tmp_path)
    article, _ = sqlite_store.add_article(FeedItem(
        source_id="en", guid="g", url="https://news.example.org/cranes", title="Cranes",
        summary="Four cranes began work.", published=now,
        image_url="https://news.example.org/pixel.gif",
        image_problem="lead image not used: the image is 1×1 px, smaller than 200×100"),
        now=now)
    sqlite_store.create_deliveries(article.id, plan_article(article, config, now=now), now=now)
    fake = FakeChannel()
    cfg = config.channels["tg"]
    dispatcher = Dispatcher(config=config, store=sqlite_store, env=make_environment(config),
                            outlets={"tg": Outlet("tg", cfg, make_format(cfg), fake)})
    await dispatcher.run_once()

    (post,) = fake.sent
    assert post.image_url is None
    (delivery,) = sqlite_store.deliveries()
    assert delivery.status is DeliveryStatus.SENT
    print_history(config, sqlite_store, [delivery])
    assert "sent as text: lead image not used: the image is 1×1 px" in capsys.readouterr().out


def test_a_failed_image_is_not_the_digests_lead_image() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.config import EmailChannel
    from bot.digest.build import build_digest
    from bot.models import Article

    now = datetime.now(UTC)
    article = Article(
        id=1, source_id="en", guid="g", url="https://news.example.org/a", title="Cranes",
        summary="Four cranes.", text="", author="", sections=(), language="en",
        published_at=now, discovered_at=now, image_url="https://news.example.org/pixel.gif",
        image_alt="", image_problem="lead image not used: the image is 1×1 px")
    cfg = EmailChannel.model_validate({"type": "email", "from": "news@example.org"})
    digest = build_digest("d", cfg, [article], scheduled_for=now, zone=ZoneInfo("UTC"))
    assert digest.groups[0].articles[0].image_url is None


@pytest.mark.parametrize("channel", ["telegram", "x"])
def test_a_failed_image_is_never_a_photo_or_an_upload(channel: str) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.channels import post_format
    from bot.channels.telegram_platform import TelegramChannel
    from bot.channels.x_platform import XChannel
    from bot.models import Article
    from bot.render import make_environment, render_post

    now = datetime.now(UTC)
    cfg = (TelegramChannel(type="telegram", chat="@c", photo="auto") if channel == "telegram"
           else XChannel(type="x", media=True))
    article = Article(
        id=1, source_id="en", guid="g", url="https://news.example.org/a", title="Cranes",
        summary="Four cranes.", text="", author="", sections=(), language="en",
        published_at=now, discovered_at=now, image_url="https://news.example.org/x",
        image_alt="", image_problem="lead image not used: the image URL answered HTTP 404")
    post = render_post(make_environment(parse_config("timezone: UTC\n")), article, channel="c",
                       cfg=cfg, fmt=post_format(cfg), zone=ZoneInfo("UTC"))
    assert post.image_url is None
