"""Titles are one clean line on every channel, whatever the feed did to them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.channels import post_format
from bot.channels.telegram_platform import TelegramChannel
from bot.channels.x_platform import XChannel
from bot.config import Config
from bot.ingest.parse import parse_feed
from bot.models import Article
from bot.render import make_environment, render_post
from bot.text import clean_title

WHEN = datetime(2026, 11, 24, 9, tzinfo=UTC)


def rss(title_xml: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
        f"<item><title>{title_xml}</title><link>https://news.example.org/a</link>"
        "<description>A sentence of the story that is long enough to stand alone as a "
        "summary for every channel.</description></item></channel></rss>"
    ).encode()


def feed_title(title_xml: str) -> str:
    parsed = parse_feed("src", rss(title_xml), url="https://news.example.org/feed.xml")
    return parsed.items[0].title


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Border guards\r\n  tighten watch\r\non Syrian frontier",
         "Border guards tighten watch on Syrian frontier"),
        ("AT&amp;amp;T buys a stake", "AT&T buys a stake"),
        ("Minister: &amp;#34;no delay&amp;#34;", 'Minister: "no delay"'),
        ("Port\u200b opens\ufeff its\u00ad first berth", "Port opens its first berth"),
        ("Tabs\tand\u2028separators", "Tabs and separators"),
    ],
)
def test_feed_titles_become_one_clean_line(raw: str, clean: str) -> None:
    assert feed_title(raw) == clean


def test_an_emoji_joined_with_zwj_keeps_its_joiner() -> None:
    coder = "\U0001f469\u200d\U0001f4bb"
    assert clean_title(f"Coders {coder} meet\u200b in Basra") == f"Coders {coder} meet in Basra"


def test_a_persian_zwnj_between_letters_is_kept_but_a_stray_one_is_not() -> None:
    assert clean_title("می\u200cخواهم") == "می\u200cخواهم"
    assert clean_title("Port\u200c opens") == "Port opens"


def test_control_characters_never_reach_a_title() -> None:
    assert clean_title("Oil\x00 exports\x1b[31m rise\x7f") == "Oil exports[31m rise"


def test_a_literal_ampersand_is_left_alone() -> None:
    assert clean_title("Tom & Jerry; R&D & M&A") == "Tom & Jerry; R&D & M&A"


@pytest.mark.parametrize("cfg", [TelegramChannel(type="telegram", chat="@c"),
                                 XChannel(type="x")])
def test_a_stored_title_with_line_breaks_is_posted_on_one_line(cfg: TelegramChannel) -> None:
    article = Article(
        id=1, source_id="s", guid="g", url="https://news.example.org/a",
        title="Oil exports\r\nreach\na monthly high", summary="Exports rose.", text="",
        author="", sections=(), language="en", published_at=WHEN, discovered_at=WHEN,
        image_url=None, image_alt="",
    )
    post = render_post(make_environment(Config()), article, channel="c", cfg=cfg,
                       fmt=post_format(cfg), zone=ZoneInfo("UTC"))
    assert "Oil exports reach a monthly high" in post.text
    assert "\r" not in post.text


def test_a_title_with_line_breaks_is_one_line_in_the_digest() -> None:
    from bot.config import EmailChannel
    from bot.digest.build import build_digest

    article = Article(
        id=1, source_id="s", guid="g", url="https://news.example.org/a",
        title="Oil exports\r\nreach\u200b a monthly high", summary="Exports rose.", text="",
        author="", sections=(), language="en", published_at=WHEN, discovered_at=WHEN,
        image_url=None, image_alt="",
    )
    cfg = EmailChannel.model_validate({"type": "email", "from": "news@example.org"})
    digest = build_digest("d", cfg, [article], scheduled_for=WHEN, zone=ZoneInfo("UTC"))
    assert digest.groups[0].articles[0].article.title == "Oil exports reach a monthly high"
