"""X posts that read whole: threads cut at sentence ends and numbered, hashtags kept while
they fit, and multi-word hashtags of scripts without case joined with "_"."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.channels.x import make_format
from bot.channels.x_length import is_valid_post, weighted_length
from bot.channels.x_platform import XChannel
from bot.config import Config
from bot.models import Article, RenderedPost
from bot.render import hashtag, make_environment, render_post

WHEN = datetime(2026, 11, 24, 9, tzinfo=UTC)
RAIDS = (
    "Iraqi forces carried out back-to-back raids overnight against ISIS cells hiding in the "
    "desert and the farmland between the provinces of Anbar, Salahuddin, Nineveh, Kirkuk and "
    "Diyala. The operations command said twelve suspects were detained and three weapons "
    "caches destroyed, including rockets and explosives prepared for attacks on villages. "
    "Aircraft of the international coalition supported the ground forces in two of the "
    "operations, according to a statement issued on Tuesday morning. Officials said the "
    "campaign would continue through the winter. No casualties were reported among the "
    "troops taking part in the raids."
)


def render(summary: str, sections: tuple[str, ...] = ("Security", "Iraq"),
           language: str = "en", **cfg: object) -> RenderedPost:
    article = Article(
        id=8, source_id="iraq-en", guid="g8", url="https://news.example.org/en/2026/11/raids",
        title="Iraqi forces stage back-to-back raids on ISIS", summary=summary, text="",
        author="", sections=sections, language=language, published_at=WHEN,
        discovered_at=WHEN, image_url=None, image_alt="")
    channel = XChannel(type="x", **cfg)  # type: ignore[arg-type]
    return render_post(make_environment(Config()), article, channel="x-en", cfg=channel,
                       fmt=make_format(channel), zone=ZoneInfo("UTC"))


def test_a_thread_is_cut_at_sentence_ends_and_every_part_is_numbered() -> None:
    post = render(RAIDS, thread=True)
    parts = [post.text, *post.thread]
    total = len(parts)
    assert total >= 2
    for number, part in enumerate(parts, start=1):
        assert is_valid_post(part)
        assert f"({number}/{total})" in part
    # no part starts with a sentence's tail such as ", Kirkuk and Diyala."
    for reply in post.thread:
        assert reply[0].isupper(), reply
        assert re.search(r"[.!?] \(\d+/\d+\)$", reply), reply
    summary_in_first = post.text.split("\n\n")[1]
    assert summary_in_first.endswith(f". (1/{total})")
    joined = " ".join([summary_in_first, *post.thread])
    assert re.sub(r" \(\d+/\d+\)", "", joined) == RAIDS  # nothing lost, nothing doubled


def test_a_short_last_sentence_joins_the_part_before_it() -> None:
    post = render(RAIDS + " It ended.", thread=True)
    assert "troops taking part in the raids. It ended. (" in post.thread[-1]
    assert all(len(re.sub(r" \(\d+/\d+\)$", "", p)) >= 40 for p in post.thread)


def test_a_post_that_fits_is_not_numbered() -> None:
    post = render("Twelve suspects were detained.", thread=True)
    assert post.thread == () and "(1/1)" not in post.text


def test_hashtags_stay_when_the_shortened_summary_leaves_room_for_them() -> None:
    text = render(RAIDS).text
    assert weighted_length(text) <= 280
    assert "#Security #Iraq https://news.example.org/en/2026/11/raids" in text


def test_hashtags_are_dropped_when_they_do_not_fit() -> None:
    long_tags = tuple(f"Section number {n} of a very long list" for n in range(6))
    text = render(RAIDS, sections=long_tags, hashtags=6).text
    assert weighted_length(text) <= 280
    assert text.endswith("\n\nhttps://news.example.org/en/2026/11/raids")


def test_multi_word_hashtags_of_scripts_without_case_are_joined_with_underscores() -> None:
    assert hashtag("الشرق الأوسط") == "#الشرق_الأوسط"
    assert hashtag("Middle East") == "#MiddleEast"
    text = render("ارتفعت الصادرات.", sections=("الشرق الأوسط",), language="ar").text
    assert "#الشرق_الأوسط" in text
