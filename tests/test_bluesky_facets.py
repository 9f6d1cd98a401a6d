"""Links and hashtags become facets on exactly their characters, whatever the script: the
byte offsets are UTF-8's, so Arabic (2 bytes a letter), CJK (3) and emoji (4 and more) would
shift a facet counted in characters onto the wrong words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.channels.bluesky import BlueskySender
from bot.channels.bluesky_facets import find_facets
from bot.channels.bluesky_platform import BlueskyChannel, make_format
from bot.channels.bluesky_text import PostParts, graphemes, split_post
from bot.config import Config
from bot.models import Article, RenderedPost
from bot.render import make_environment, render_post
from tests.fakes import bluesky_api as fake
from tests.fakes.bluesky_api import FakeBlueskyPds
from tests.feed_server import LOOPBACK_ALLOWED

bluesky_api = fake.bluesky_api_fixture  # the fixture: a fresh server per test

WHEN = datetime(2026, 11, 24, 9, tzinfo=UTC)

#: (text, the facets a reader must see: (characters, link or tag)), one per script.
CASES = {
    "arabic": (
        "افتتاح محطة مياه ثانية على دجلة https://news.example.org/ar/2026/11/مياه "
        "#الشرق_الأوسط #بغداد",
        [("https://news.example.org/ar/2026/11/مياه", "https://news.example.org/ar/2026/11/مياه"),
         ("#الشرق_الأوسط", "الشرق_الأوسط"), ("#بغداد", "بغداد")],
    ),
    "cjk": (
        "バグダッドで第二浄水場が稼働 #水道 详情见 https://news.example.org/zh/2026/11/water。"
        "\n#巴格达 #경제",
        [("#水道", "水道"),
         ("https://news.example.org/zh/2026/11/water", "https://news.example.org/zh/2026/11/water"),
         ("#巴格达", "巴格达"), ("#경제", "경제")],
    ),
    "emoji": (
        "👨‍👩‍👧‍👦🇮🇶 Families return to Mosul 🏠 #Mosul👍🏽 (https://news.example.org/a?b=1) "
        "#🎉party #2026",
        [("#Mosul👍🏽", "Mosul👍🏽"), ("https://news.example.org/a?b=1", "https://news.example.org/a?b=1"),
         ("#🎉party", "🎉party")],
    ),
}


def spans(text: str) -> list[tuple[str, str]]:
    data = text.encode("utf-8")
    return [(data[f.byte_start:f.byte_end].decode("utf-8"), f.value) for f in find_facets(text)]


@pytest.mark.parametrize("script", CASES)
def test_facets_span_exactly_the_link_and_hashtag_characters(script: str) -> None:
    text, expected = CASES[script]

    assert spans(text) == expected


@pytest.fixture
async def sender(bluesky_api: FakeBlueskyPds) -> AsyncIterator[BlueskySender]:
    made = BlueskySender("bsky-test", BlueskyChannel(**bluesky_api.channel_settings()),
                         url_policy=LOOPBACK_ALLOWED)
    yield made
    await made.close()


@pytest.mark.parametrize("script", CASES)
async def test_the_pds_gets_facets_on_the_right_characters(
        bluesky_api: FakeBlueskyPds, sender: BlueskySender, script: str) -> None:
    text, expected = CASES[script]

    await sender.send(RenderedPost("bsky-test", 1, text))

    [post] = bluesky_api.posts  # the fake refused facets off UTF-8 boundaries or the text
    assert post.faceted() == expected


def test_sentence_punctuation_after_a_link_is_not_part_of_it() -> None:
    text = "See https://example.org/a, https://example.org/b. And (https://example.org/c)!"

    assert [s for s, _ in spans(text)] == [
        "https://example.org/a", "https://example.org/b", "https://example.org/c"]


def test_a_url_with_balanced_parentheses_keeps_them() -> None:
    text = "https://en.wikipedia.org/wiki/Tigris_(river) flows"

    assert spans(text) == [("https://en.wikipedia.org/wiki/Tigris_(river)",
                            "https://en.wikipedia.org/wiki/Tigris_(river)")]


def test_what_is_not_a_hashtag() -> None:
    # A number, a "#" inside a word or URL, punctuation alone, a tag over 64 graphemes.
    text = ("Item #1 a#b https://example.org/page#section #!? #" + "x" * 65
            + " #ok. #ok2,")

    assert spans(text) == [("https://example.org/page#section",
                            "https://example.org/page#section"),
                           ("#ok", "ok"), ("#ok2", "ok2")]


def test_graphemes_count_what_a_reader_sees() -> None:
    assert graphemes("👨‍👩‍👧‍👦") == 1  # seven code points joined by ZWJs
    assert graphemes("🇮🇶") == 1  # a flag: two regional indicators
    assert graphemes("👍🏽") == 1  # skin tone modifier
    assert graphemes("e\u0301") == 1  # a combining accent
    assert graphemes("بغداد") == 5
    assert graphemes("水道") == 2


def _article(title: str, summary: str, language: str = "en",
             sections: tuple[str, ...] = ("Economy",)) -> Article:
    return Article(
        id=7, source_id="iraq-en", guid="g7", url="https://news.example.org/en/2026/11/oil",
        title=title, summary=summary, text="", author="", sections=sections,
        language=language, published_at=WHEN, discovered_at=WHEN, image_url=None,
        image_alt="")


def _render(article: Article) -> str:
    cfg = BlueskyChannel(type="bluesky")
    return render_post(make_environment(Config()), article, channel="bsky", cfg=cfg,
                       fmt=make_format(cfg), zone=ZoneInfo("UTC")).text


def test_the_template_gives_title_summary_and_hashtags_and_leaves_the_link_to_the_card(
        ) -> None:
    text = _render(_article("Oil exports reach a monthly high",
                            "Exports averaged 3.4 million barrels a day."))

    assert text == ("---\nlangs: en\n---\nOil exports reach a monthly high\n\n"
                    "Exports averaged 3.4 million barrels a day.\n\n#Economy")
    assert split_post(text) == PostParts("Oil exports reach a monthly high\n\n"
                                         "Exports averaged 3.4 million barrels a day.\n\n"
                                         "#Economy", ("en",))


@pytest.mark.parametrize("sentence", [
    "Crude exports from the southern terminals rose again. ",
    "ارتفعت صادرات النفط الخام من الموانئ الجنوبية مرة أخرى. ",
    "👨‍👩‍👧‍👦 families returned to the old city today. ",
])
def test_render_shortens_a_long_summary_to_300_graphemes(sentence: str) -> None:
    rendered = _render(_article("Oil exports reach a monthly high", sentence * 40))

    text = split_post(rendered).body  # what is posted: the front matter is not
    assert 200 < graphemes(text) <= 300
    assert text.startswith("Oil exports reach a monthly high\n\n")
    measured = make_format(BlueskyChannel(type="bluesky")).measure(rendered, with_media=True)
    assert measured.ok and measured.length == graphemes(text)


@pytest.mark.parametrize(("front", "langs"), [
    ("langs: ar", ("ar",)),
    ("langs: en_US, pt-BR ar de", ("en-US", "pt-BR", "ar")),  # at most 3
    ("langs: English", ()),  # a feed's word for it is not a tag: left out, not refused
    ("langs:", ()),
])
def test_front_matter_gives_the_posts_langs(front: str, langs: tuple[str, ...]) -> None:
    assert split_post(f"---\n{front}\n---\nHello") == PostParts("Hello", langs)


def test_front_matter_with_another_key_is_a_template_problem() -> None:
    parts = split_post("---\nvisibility: public\n---\nHello")

    assert parts.body == "Hello" and "the only key is langs" in parts.problem
    assert not make_format(BlueskyChannel(type="bluesky")).fits(
        "---\nvisibility: public\n---\nHello", with_media=False)


def test_text_without_a_closed_block_is_all_body() -> None:
    assert split_post("---\nlangs: en\nHello") == PostParts("---\nlangs: en\nHello")
