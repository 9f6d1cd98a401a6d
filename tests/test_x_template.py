"""templates/x/post.txt.j2 as the renderer uses it: title, summary, hashtags, link."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.channels.x import make_format
from bot.channels.x_length import weighted_length
from bot.channels.x_platform import XChannel
from bot.config import Config
from bot.models import Article
from bot.render import make_environment, render_post

WHEN = datetime(2026, 11, 24, 9, tzinfo=UTC)


def _render(summary: str, *, sections: tuple[str, ...] = ("Economy", "Basra"),
            language: str = "en", **cfg: object) -> str:
    article = Article(
        id=7, source_id="iraq-en", guid="g7", url="https://news.example.org/en/2026/11/oil",
        title="Oil exports reach a monthly high", summary=summary, text="", author="",
        sections=sections, language=language, published_at=WHEN, discovered_at=WHEN,
        image_url=None, image_alt="",
    )
    channel = XChannel(type="x", **cfg)  # type: ignore[arg-type]
    post = render_post(make_environment(Config()), article, channel="x-en", cfg=channel,
                       fmt=make_format(channel), zone=ZoneInfo("UTC"))
    return post.text


def test_post_has_title_summary_hashtags_and_link() -> None:
    assert _render("Exports averaged 3.4 million barrels a day.") == (
        "Oil exports reach a monthly high\n\n"
        "Exports averaged 3.4 million barrels a day.\n\n"
        "#Economy #Basra https://news.example.org/en/2026/11/oil"
    )


def test_right_to_left_post_puts_the_link_on_its_own_line() -> None:
    text = _render("ارتفعت الصادرات", sections=("اقتصاد",), language="ar")

    assert text.endswith("#اقتصاد\nhttps://news.example.org/en/2026/11/oil")


def test_long_summary_drops_hashtags_then_shortens_keeping_title_and_link() -> None:
    text = _render("Crude exports from the southern terminals rose again. " * 12)

    assert weighted_length(text) <= 280
    assert text.startswith("Oil exports reach a monthly high\n\n")
    assert text.endswith("\n\nhttps://news.example.org/en/2026/11/oil")
    assert "#Economy" not in text


def test_post_without_summary_or_hashtags_is_title_and_link() -> None:
    assert _render("", sections=()) == (
        "Oil exports reach a monthly high\n\nhttps://news.example.org/en/2026/11/oil"
    )
