"""X posts always fit: weighted length (twitter-text v3), fitting by the renderer, threads."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests_oauthlib import OAuth1
from twitter_text import parse_tweet

from bot.channels.x import make_format
from bot.channels.x_length import XPostFormat, is_valid_post, thread_parts, weighted_length
from bot.channels.x_platform import XChannel
from bot.config import Config
from bot.models import Article
from bot.render import make_environment, render_post
from tests.fakes.x_api import (
    ACCESS_SECRET,
    ACCESS_TOKEN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    FakeXApi,
)

FMT = XPostFormat()

# ------------------------------------------------------------------ generated news text

_LATIN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéüçñ0123456789,.'-",
                 min_size=1, max_size=14)
_ARABIC = st.text(
    st.characters(min_codepoint=0x0621, max_codepoint=0x064A) | st.sampled_from("،؟ًٌٍَُِّ"),
    min_size=1, max_size=10,
)
_CJK = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF) | st.sampled_from("。、"),
               min_size=1, max_size=40)
_EMOJI = st.sampled_from(["😷", "🇮🇶", "👍🏽", "👨‍👩‍👧", "❤️", "🏳️‍🌈", "…", "—", "e\u0301", "ﷺ"])
_URL = st.builds(
    "{}{}/{}".format,
    st.sampled_from(["https://", "http://", ""]),
    st.sampled_from(["news.example.org", "example.com", "t.co", "xn--mgbh0fb.xn--kgbechtv"]),
    st.text("abcdefghij0123456789-_/?=&", max_size=60),
)
_WORD = st.one_of(_LATIN, _ARABIC, _CJK, _EMOJI, _URL)
_TEXT = st.one_of(
    st.lists(_WORD, max_size=160).map(" ".join),
    st.lists(st.one_of(_URL, _URL, _URL, _LATIN, _EMOJI), max_size=60).map(" ".join),  # links
)
_TITLE = st.lists(_WORD, min_size=1, max_size=40).map(" ".join).filter(str.strip)
_SECTIONS = st.lists(st.one_of(_LATIN, _ARABIC, _CJK), max_size=4).map(tuple)


def _article(title: str, summary: str, sections: tuple[str, ...], language: str) -> Article:
    when = datetime(2026, 11, 24, 12, tzinfo=UTC)
    return Article(
        id=1, source_id="iraq-en", guid="g1", url="https://news.example.org/2026/11/24/dams",
        title=title, summary=summary, text="", author="", sections=sections, language=language,
        published_at=when, discovered_at=when, image_url=None, image_alt="",
    )


@pytest.fixture(scope="module")
def server() -> Iterator[FakeXApi]:
    api = FakeXApi()
    api.start()
    yield api
    api.stop()


_AUTH = OAuth1(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET)


def _accepted(api: FakeXApi, text: str) -> bool:
    api.tweets.clear()  # each example on its own: duplicates are another test's business
    answer = requests.post(f"{api.base_url}/2/tweets", json={"text": text}, auth=_AUTH, timeout=5)
    return answer.status_code == 201


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_TITLE, summary=_TEXT, sections=_SECTIONS,
       language=st.sampled_from(["en", "ar", "zh"]), thread=st.booleans())
def test_rendered_post_is_always_valid_and_accepted(
    server: FakeXApi, title: str, summary: str, sections: tuple[str, ...], language: str,
    thread: bool,
) -> None:
    config = Config()
    cfg = XChannel(type="x", hashtags=2, thread=thread, summary_chars=600)
    article = _article(title, summary, sections, language)

    post = render_post(make_environment(config), article, channel="x-en", cfg=cfg,
                       fmt=make_format(cfg), zone=ZoneInfo("UTC"))

    assert parse_tweet(post.text).valid
    assert article.url in post.text
    assert _accepted(server, post.text)
    for part in post.thread:
        assert parse_tweet(part).valid


# ------------------------------------------------------------------ thread_parts


@settings(max_examples=80, deadline=None)
@given(text=_TEXT, numbered=st.booleans())
def test_thread_parts_are_valid_and_lose_no_words(text: str, numbered: bool) -> None:
    parts = thread_parts(text, FMT, numbered=numbered)

    assert all(is_valid_post(p) for p in parts)
    if numbered:
        total = len(parts) + 1
        assert all(p.endswith(f" {k}/{total}") for k, p in enumerate(parts, start=2))
        parts = tuple(p.rsplit(" ", 1)[0] for p in parts)
    squash = "".join
    original = unicodedata.normalize("NFC", text)
    assert squash(squash(p.split()) for p in parts) == squash(original.split())


def test_thread_parts_cut_at_word_boundaries() -> None:
    text = " ".join(f"word{i:03d}" for i in range(100))  # 799 weighted

    parts = thread_parts(text, FMT)

    assert len(parts) == 3
    assert all(p.startswith("word") and p.split()[-1].startswith("word") for p in parts)
    assert " ".join(parts) == text


def test_thread_parts_of_spaceless_cjk_cut_between_characters() -> None:
    parts = thread_parts("日本語" * 100, FMT)

    assert [weighted_length(p) for p in parts] == [280, 280, 40]


def test_numbered_thread_parts_label_replies_after_the_first_post() -> None:
    assert thread_parts("one two", FMT, numbered=True) == ("one two 2/2",)


def test_format_offers_thread_parts_to_the_renderer() -> None:
    assert FMT.thread_parts("a " * 200) == thread_parts("a " * 200, FMT)
    assert FMT.thread_parts("   ") == ()


# ------------------------------------------------------------------ weighted length


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("hello", 5),
        ("مرحبا بالعالم", 13),
        ("日本語", 6),
        ("😷", 2),
        ("👨‍👩‍👧", 2),
        ("…", 2),
        ("see https://news.example.org/" + "a" * 200, 27),
        ("e\u0301", 1),  # NFC first: é
    ],
)
def test_weighted_length_follows_twitter_text_v3(text: str, weight: int) -> None:
    assert weighted_length(text) == weight


def test_blank_text_is_not_a_post() -> None:
    assert not is_valid_post("  \n ")
