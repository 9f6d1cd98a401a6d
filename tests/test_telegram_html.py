"""Telegram's HTML subset and length rules, and the post template that must respect them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.channels.telegram_html import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    TelegramHtmlError,
    escape,
    parse,
    utf16_len,
    visible_length,
)
from bot.channels.telegram_platform import TelegramFormat
from bot.config import parse_config
from bot.models import Article
from bot.render import make_environment, render_post
from tests.fakes.telegram_api import EntityError, parse_html, utf16_units

FORMAT = TelegramFormat()

# -- the parser ----------------------------------------------------------------------------


def test_visible_length_ignores_tags_and_decodes_entities() -> None:
    assert visible_length('<b>a</b> &amp; <a href="https://x.org/?a=1&amp;b=2">link</a>') == 8


def test_emoji_outside_the_bmp_counts_two_units() -> None:
    assert utf16_len("😀a") == 3
    assert visible_length("&#128512;") == 2


@pytest.mark.parametrize("markup", [
    "<p>para</p>",  # unknown tag
    "<br>",  # Telegram has no <br>
    "a < b",  # bare <
    "a > b",  # bare >
    "Tom & Jerry",  # bare &
    "&nbsp;",  # named entity Telegram does not know
    "<b><i>x</b></i>",  # bad nesting
    "<b>never closed",
    "</b>",
    '<span class="other">x</span>',
    "<code><b>x</b></code>",
])
def test_invalid_markup_is_refused_by_both_parsers(markup: str) -> None:
    with pytest.raises(TelegramHtmlError):
        parse(markup)
    with pytest.raises(EntityError):
        parse_html(markup)


@pytest.mark.parametrize("markup", [
    "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>i</ins><s>s</s>"
    "<strike>s</strike><del>d</del>",
    '<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>',
    '<pre><code class="language-python">x = 1</code></pre>',
    "<blockquote expandable>quote</blockquote>",
    "&lt;&gt;&amp;&quot;&#39;&#x1F600;",
    "<b>bold <i>and italic</i></b>",
])
def test_valid_markup_is_accepted_by_both_parsers(markup: str) -> None:
    assert parse(markup).text == parse_html(markup)


def test_escape_makes_any_text_valid() -> None:
    text = "<script> & \"quotes\" 'apos' > &nbsp;"
    assert parse(escape(text)).text == text


# -- the format --------------------------------------------------------------------------


def test_text_limit_is_4096_utf16_units() -> None:
    assert FORMAT.fits("a" * TEXT_LIMIT, with_media=False)
    assert not FORMAT.fits("a" * (TEXT_LIMIT + 1), with_media=False)
    assert not FORMAT.fits("😀" * (TEXT_LIMIT // 2) + "a", with_media=False)


def test_caption_limit_is_1024_utf16_units() -> None:
    assert FORMAT.fits("<b>" + "a" * CAPTION_LIMIT + "</b>", with_media=True)
    assert not FORMAT.fits("a" * (CAPTION_LIMIT + 1), with_media=True)


def test_markup_does_not_count_toward_the_limit() -> None:
    assert FORMAT.fits("<b>" + "&amp;" * TEXT_LIMIT + "</b>", with_media=False)


def test_invalid_markup_never_fits() -> None:
    assert not FORMAT.fits("<p>short</p>", with_media=False)


# -- the template, fitted by the renderer ---------------------------------------------------

CONFIG = parse_config("channels:\n  tg:\n    type: telegram\n    token: '1:x'\n"
                      "    chat: '@newsroom'\n    summary_chars: 10000\n")
ENV = make_environment(CONFIG)
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def article(title: str, summary: str, *, language: str = "en", image: bool = False,
            sections: tuple[str, ...] = ("World",)) -> Article:
    return Article(id=1, source_id="src", guid="g", url="https://news.example.org/a?x=1&y=2",
                   title=title, summary=summary, text="", author="", sections=sections,
                   language=language, published_at=NOW, discovered_at=NOW,
                   image_url="https://news.example.org/lead.jpg" if image else None,
                   image_alt="")


def render(item: Article) -> str:
    cfg = CONFIG.channels["tg"]
    return render_post(ENV, item, channel="tg", cfg=cfg, fmt=FORMAT, zone=ZoneInfo("UTC")).text


def test_template_shows_bold_title_summary_hashtag_and_link() -> None:
    text = render(article("Floods <in> Basra", "Rivers rose & fell."))
    assert text == (
        "<b>Floods &lt;in&gt; Basra</b>\n\nRivers rose &amp; fell.\n\n#World\n\n"
        '<a href="https://news.example.org/a?x=1&amp;y=2">Read more</a>'
    )


def test_arabic_post_has_no_bidi_controls_and_an_arabic_link_label() -> None:
    text = render(article("عنوان", "ملخص الخبر.", language="ar", sections=("سياسة",)))
    assert "اقرأ المزيد</a>" in text and "#سياسة" in text
    assert not any(ch in text for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_section_is_a_label_when_it_makes_no_hashtag() -> None:
    text = render(article("T", "S.", sections=("!!!",)))
    assert "<i>!!!</i>" in text


WORDS = st.sampled_from([
    "news", "Basra", "<b>", "</i>", "a<b", "x>y", "&", "&amp;", "&nbsp;", '"q"', "'s", "😀",
    "👩\u200d💻", "🇮🇶", "👍🏽", "é", "e\u0301", "العراق", "الأخبار", "؟", "۱۲۳", "עברית",
    "中文", ".", "!", "?", "\n", "  ", "https://x.org/?a=1&b=2",
])
# Mostly longer than any limit: the interesting case is the cut.
TEXT = st.one_of(st.lists(WORDS, max_size=30), st.lists(WORDS, min_size=300, max_size=1500),
                 st.lists(WORDS, min_size=800, max_size=1500)).map(" ".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(title=st.lists(WORDS.filter(lambda w: w != "\n"), max_size=40).map(
           lambda words: " ".join(["Title", *words])), summary=TEXT,
       image=st.booleans(), language=st.sampled_from(["en", "ar"]))
def test_fitted_post_is_accepted_by_telegram_and_never_cut_inside_markup(
        title: str, summary: str, image: bool, language: str) -> None:
    item = article(title, summary, language=language, image=image)
    text = render(item)
    event(f"summary cut: {escape(summary) not in text}")
    limit = CAPTION_LIMIT if image else TEXT_LIMIT
    visible = parse_html(text)  # the stand-in server's parser: raises on a cut tag/entity
    assert utf16_units(visible.strip()) <= limit
    assert FORMAT.fits(text, with_media=image)
    text.encode("utf-8")  # no lone surrogate
    assert '<a href="https://news.example.org/a?x=1&amp;y=2">' in text  # the link is kept
    # What is left of the summary starts the original and was not cut inside a sequence.
    middle = [part for part in visible.split("\n\n")[1:-1] if part != "#World"]
    if middle:
        kept = middle[0].removesuffix("…")
        assert summary.startswith(kept)
        if len(kept) < len(summary):
            after = summary[len(kept)]
            assert after not in "\u200d\u0301\ufe0f" and not "\U0001f3fb" <= after <= "\U0001f3ff"


MARKUP = st.lists(st.sampled_from([
    "<b>", "</b>", "<i>", "</i>", "<code>", "</code>", "<pre>", "</pre>", "<a href=\"x\">",
    "</a>", "<blockquote>", "</blockquote>", '<span class="tg-spoiler">', "</span>", "<br>",
    "<b/>", "< b>", "<>", "</ b>", "text", "😀", "&amp;", "&lt;", "&#65;", "&#x1F600;", "&nbsp;",
    "&", "<", ">", "&#xD800;", "&#0;", "\n", " ", "العراق",
]), max_size=25).map("".join)


@settings(max_examples=300, deadline=None)
@given(markup=MARKUP)
def test_length_rules_agree_with_the_stand_in_server(markup: str) -> None:
    try:
        ours: str | None = parse(markup).text
    except TelegramHtmlError:
        ours = None
    try:
        theirs: str | None = parse_html(markup)
    except EntityError:
        theirs = None
    assert ours == theirs
