"""extract_page: the article's words, and never the page's furniture."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from bot.ingest.extract import extract_page, is_furniture

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "iraq-back-to-back-raids.txt"
PAGE = ROOT / "examples" / "pages" / "iraq-back-to-back-raids.html"
URL = "https://news.example.org/en/2026/11/iraq-back-to-back-raids"
LEDE_START = "Iraqi forces are conducting consecutive offensives"
FURNITURE = (
    "Do you like this article?",
    "Comment(s)",
    "Comment Policy",
    "Denotes Required Field",
    "1500 / 1500",
    "All rights reserved",
    "Privacy policy",
)


def corpus_text() -> str:
    return CORPUS.read_text(encoding="utf-8")


def flat_page(text: str) -> str:
    """The corpus as the worst kind of page: every line a <p>, furniture inline, no <article>."""
    lines = "".join(f"<p>{html.escape(line)}</p>\n" for line in text.splitlines() if line.strip())
    return (
        "<html><head><title>Iraq News</title></head><body>"
        "<div class='nav'><a href='/'>Home</a> | <a href='/en/security'>Security</a></div>"
        f"<div class='content'>{lines}</div>"
        "<div class='footer'><p>© 2026 Iraq News. All rights reserved.</p></div></body></html>"
    )


def test_sample_page_lede_is_the_first_paragraph_of_the_story() -> None:
    page = extract_page(PAGE.read_bytes(), URL)
    assert page.lede.startswith(LEDE_START)
    assert page.text.startswith(LEDE_START)


@pytest.mark.parametrize("phrase", FURNITURE)
def test_sample_page_furniture_never_reaches_text_or_lede(phrase: str) -> None:
    page = extract_page(PAGE.read_bytes(), URL)
    assert phrase.lower() not in page.text.lower()
    assert phrase.lower() not in page.lede.lower()


@pytest.mark.parametrize("phrase", FURNITURE)
def test_corpus_on_a_flat_page_keeps_furniture_out(phrase: str) -> None:
    page = extract_page(flat_page(corpus_text()), URL)
    assert page.lede.startswith(LEDE_START)
    assert phrase.lower() not in page.text.lower()


def test_the_story_ends_with_its_last_paragraph() -> None:
    page = extract_page(PAGE.read_bytes(), URL)
    assert page.text.rstrip().endswith("al-Aasam said.")


def test_the_headline_byline_and_caption_are_not_the_lede() -> None:
    page = extract_page(flat_page(corpus_text()), URL)
    assert "By Alaa Hussain" not in page.lede
    assert "Photo courtesy" not in page.lede
    assert "stage back-to-back raids" not in page.lede


def test_image_comes_from_og_image_with_its_alt() -> None:
    page = extract_page(PAGE.read_bytes(), URL)
    assert page.image_url == "https://news.example.org/media/2026/11/sharqat-operation.jpg"
    assert page.image_alt.startswith("Salaheddine police")


def test_a_relative_og_image_is_made_absolute() -> None:
    page = extract_page(
        (ROOT / "examples/pages/grand-faw-first-berth.html").read_bytes(),
        "https://news.example.org/en/2026/11/grand-faw-first-berth",
    )
    assert page.image_url == "https://news.example.org/media/2026/11/grand-faw-berth.jpg"


def test_twitter_image_is_used_when_there_is_no_og_image() -> None:
    body = (
        "<html><head><meta name='twitter:image' content='https://cdn.example.org/t.jpg'></head>"
        f"<body><article><p>{'A sentence of the story that runs on. ' * 8}</p></article>"
        "</body></html>"
    )
    assert extract_page(body, URL).image_url == "https://cdn.example.org/t.jpg"


def test_title_and_language_come_from_the_page() -> None:
    page = extract_page(PAGE.read_bytes(), URL)
    assert page.title == "Iraqi forces stage back-to-back raids on ISIS"
    assert page.language == "en"


def test_arabic_page_furniture_is_dropped() -> None:
    page = extract_page(
        (ROOT / "examples/pages/mosul-university-library.html").read_bytes(),
        "https://news.example.org/ar/2026/11/mosul-university-library",
    )
    assert page.lede.startswith("أعادت جامعة الموصل")
    assert "هل أعجبك" not in page.text
    assert "جميع الحقوق محفوظة" not in page.text
    assert page.language == "ar"


def test_a_page_with_no_article_gives_empty_text_without_raising() -> None:
    page = extract_page(b"<html><body><nav><a href='/'>Home</a></nav></body></html>", URL)
    assert page.text == ""
    assert page.lede == ""


def test_an_empty_body_gives_an_empty_page() -> None:
    assert extract_page(b"", URL).text == ""


@pytest.mark.parametrize(
    "line",
    [
        "Do you like this article?",
        "0 Comment(s)",
        "12 comments",
        "Comment Policy * Denotes Required Field 1500 / 1500",
        "1500 / 1500",
        "© 2026 Iraq News. All rights reserved.",
        "Share this article",
        "هل أعجبك هذا المقال؟",
    ],
)
def test_furniture_lines_are_recognised(line: str) -> None:
    assert is_furniture(line)


@pytest.mark.parametrize(
    "line",
    [
        "Related to the raids, officials said more were planned.",
        "The goal is to eliminate militants and prevent them from resurfacing, he said.",
        "Comments from residents were mostly positive, the council said in its report.",
    ],
)
def test_story_sentences_are_not_furniture(line: str) -> None:
    assert not is_furniture(line)


STORY = ("Four ship-to-shore gantry cranes began work at Umm Qasr port on Sunday, doubling the "
         "number of containers the terminal can lift in an hour, the ports company said.")
SECOND = "The cranes were shipped from Shanghai in October and assembled over six weeks."


def json_ld_page(article_body: str, visible: list[str]) -> str:
    data = {"@type": "NewsArticle", "headline": "Cranes arrive", "articleBody": article_body}
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in visible)
    return (f"<html><head><script type='application/ld+json'>{json.dumps(data)}</script></head>"
            f"<body><article><h1>Cranes arrive</h1>{paragraphs}</article></body></html>")


def test_a_json_ld_body_that_starts_with_other_text_gives_way_to_the_pages_opening() -> None:
    caption = "Workers inspect a new gantry crane at the port on Sunday morning before work began."
    page = extract_page(json_ld_page(f"{caption}\n{STORY}\n{SECOND}", [STORY, SECOND]), URL)
    assert page.lede.startswith("Four ship-to-shore gantry cranes")


def test_a_json_ld_body_beats_a_page_that_shows_a_standfirst_first() -> None:
    standfirst = "The busiest port in the country is catching up with its ships, say officials."
    page = extract_page(json_ld_page(f"{STORY}\n{SECOND}", [standfirst, STORY, SECOND]), URL)
    assert page.lede.startswith("Four ship-to-shore gantry cranes")


def test_a_tooltip_inside_a_sentence_loses_its_card_but_keeps_the_words() -> None:
    body = (
        "<html><body><article><h1>Cranes arrive</h1><p>Four gantry cranes began work at "
        "<span class='tooltip'>Umm Qasr<span class='tooltiptext'>Iraq's main deep-water port, "
        "on the Khor Abdullah.</span></span> port on Sunday, doubling the number of containers "
        "the terminal can lift in an hour<span class='sr-only'> (opens in a new tab)</span>, "
        f"the ports company said.</p><p>{SECOND}</p></article></body></html>")
    page = extract_page(body, URL)
    assert page.lede.startswith("Four gantry cranes began work at Umm Qasr port on Sunday")
    assert "deep-water" not in page.lede and "new tab" not in page.lede


def test_a_paragraph_above_the_byline_is_the_standfirst_not_the_story() -> None:
    body = (
        "<html><body><article><h1>Cranes arrive</h1>"
        "<p>The busiest port in the country is catching up with its ships, say officials.</p>"
        "<p>By Layla Karim</p><p>November 24, 2026</p>"
        f"<p>{html.escape(STORY)}</p><p>{SECOND}</p></article></body></html>")
    page = extract_page(body, URL)
    assert page.lede.startswith("Four ship-to-shore gantry cranes")


def test_a_story_block_with_a_furniture_word_in_its_class_is_kept() -> None:
    body = (
        "<html><body><article><h1>Cranes arrive</h1>"
        f"<div class='print-block'><p>{html.escape(STORY)}</p></div>"
        f"<div class='print-block ad-slot-after'><p>{SECOND} " + "More of the story. " * 8
        + "</p></div><div class='share-bar'><p>Share on X</p></div></article></body></html>")
    page = extract_page(body, URL)
    assert page.lede.startswith("Four ship-to-shore gantry cranes")
    assert "Share on X" not in page.text


def test_a_most_read_list_of_headlines_above_the_story_is_not_the_lede() -> None:
    headlines = ["Is the Central Bank Done Raising Rates After Another Strong Jobs Report?",
                 "Why Basra's Port Expansion Could Reshape Trade Across the Gulf Region?"]
    body = (
        "<html><body><article><h1>Cranes arrive</h1><p>Most Read from Gulf Wire</p>"
        + "".join(f"<p><a href='/x'>{h}</a></p>" for h in headlines)
        + f"<p>{html.escape(STORY)}</p><p>{SECOND}</p></article></body></html>")
    page = extract_page(body, URL)
    assert page.lede.startswith("Four ship-to-shore gantry cranes")
