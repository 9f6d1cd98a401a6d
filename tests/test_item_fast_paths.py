"""The parser process's shortcuts per item give what the plain reading gives, for any input.

A summary "as fed" (``enrich.as_fed``) skips splitting a headline into words when its first
word settles the question, skips the caption-mark search without a bracket, and collapses a
summary's whitespace once; ``build_item`` fills a FeedItem's fields in one step and skips the
link check for a link it spelled itself. Each is held to a reference (the reading before the
shortcut, kept here) over thousands of generated items built from what the debris and
teaser rules look for: headlines run into the lede in any case, bylines, dates, captions,
teaser marks, ASCII letters and the non-ASCII ones that fold to them.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
import re
from datetime import UTC, datetime

import pytest

from bot.ingest import debris, enrich, items
from bot.ingest.debris import Known
from bot.ingest.teaser import clean_teaser
from bot.models import FeedItem

WORDS = ["Iraq", "News", "border", "Guards", "Jane", "Doe", "the", "ſ", "K", "Ä", "é", "2026",
         "Ministers", "met", "Article", "article", "said", "Reuters", "AFP", "Getty Images",
         "بقلم", "记者", "李明", "公開", "March", "Tuesday", "3", "12:30", "an", "ago", "hours",
         "_x", "", "IRAQ"]
GAPS = [" ", "  ", " | ", ": ", "-", ".", ". ", ", ", "—", "", "\n\n", "\n", "! ", "? ", " … ",
        "...", " [Photo: Reuters] ", " (Photo: AFP) ", " By ", " Read more »", " […]",
        "\u00a0", " published ", " updated ", "(", ")", "[", "]", "“", "”",
        " The post x appeared first on y."]
AUTHORS = ["", "", "Jane Doe", "jane doe", "李明", "Reuters", "_x Doe"]


def _items(seed: int, count: int) -> list[FeedItem]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        title = "".join(rng.choice(WORDS) + rng.choice(GAPS[:8])
                        for _ in range(rng.randint(0, 6))).strip()
        author = rng.choice(AUTHORS)
        parts = []
        if rng.random() < 0.3 and title:  # the headline run into the lede
            parts += [rng.choice([title, title.upper(), title.lower()]), rng.choice(GAPS)]
        if rng.random() < 0.2 and author:
            parts.append(author + rng.choice(GAPS))
        for _ in range(rng.randint(0, 14)):
            parts.append(rng.choice(WORDS if rng.random() < 0.6 else GAPS))
            if rng.random() < 0.5:
                parts.append(" ")
        summary = "".join(parts)
        found.append(FeedItem(source_id="s", guid="g", url="https://x/a", title=title,
                              summary=summary.strip() if rng.random() < 0.5 else summary,
                              summary_html="<p>x</p>", author=author))
    return found


def _known(item: FeedItem) -> Known:
    return Known(titles=(item.title,) if item.title else (),
                 authors=(item.author,) if item.author else ())


# The references: debris, teaser and enrich as they read before their shortcuts.

def _reference_find_words(text: str, value: str) -> tuple[int, int] | None:
    words = re.findall(r"\w+", value)
    if not words:
        return None
    pattern = r"\W*".join(re.escape(w) for w in words)
    for match in re.finditer(rf"(?<!\w){pattern}[^\w\s]*(?=\s|$)", text, re.IGNORECASE):
        rest = text[match.end():].lstrip(" :|-–—·•")
        if not rest[:1].islower():
            return match.start(), match.end()
    return None


def _reference_prefix_end(text: str, value: str) -> int:
    found = _reference_find_words(text[: len(value) + 40], value)
    return found[1] if found and found[0] == 0 else 0


def _reference_cut_once(text: str, known: Known) -> str | None:
    for value in (*known.labels, *known.titles):
        end = _reference_prefix_end(text, value)
        if end:
            return text[end:].lstrip(" :|-–—·•")
    for title in known.titles:
        found = _reference_find_words(text[:160], title)
        if found and len(text[:found[0]].split()) <= debris._LABEL_MAX_WORDS:
            return text[found[1]:].lstrip(" :|-–—·•")
    for author in known.authors:
        end = _reference_prefix_end(text, author)
        if end:
            return text[end:]
    date = debris._DATE_LEAD.match(text)
    if date and date.end() and date.end() < len(text):
        return text[date.end():]
    if debris._BYLINE.match(text) and debris.is_byline(" ".join(text.split()[:3])):
        return debris._cut_byline(text, known)
    mark = debris._CAPTION_MARK.search(text[:400])
    return text[mark.end():].lstrip(" .") if mark else None


def _reference_strip_run_on(paragraph: str, known: Known) -> str:
    text = paragraph.strip()
    for _ in range(8):
        cut = debris._cut_once(text, known)
        if cut is None:
            break
        cut = cut.strip().lstrip(":|-–—·•,; ").strip()
        if cut == text:
            break
        text = cut
    return text if text and debris._SENTENCE_END.search(text) else paragraph.strip()


def _reference_as_fed(item: FeedItem) -> FeedItem:
    paragraphs = [p for p in item.summary.split("\n\n") if p.strip()]
    if paragraphs:
        known = _known(item)
        kept = list(paragraphs)
        while len(kept) > 1 and debris.is_debris(kept[0], known):
            kept.pop(0)
        kept[0] = _reference_strip_run_on(kept[0], known)
        if kept != paragraphs:
            item = dataclasses.replace(item, summary="\n\n".join(kept), summary_html="")
    cleaned = clean_teaser(item.summary)
    if cleaned == " ".join(item.summary.split()):
        return item
    return dataclasses.replace(item, summary=cleaned, summary_html="")


@pytest.mark.parametrize("seed", [1, 2])
def test_finding_a_headlines_words_equals_the_plain_pattern_match(seed: int) -> None:
    found = 0
    for item in _items(seed, 3000):
        for text, value in ((item.summary, item.title), (item.summary, item.author),
                            (item.summary.lower(), item.title)):
            expected = _reference_find_words(text, value)
            found += expected is not None
            assert debris._find_words(text, value) == expected, (text, value)
            assert debris._prefix_end(text, value) == _reference_prefix_end(text, value), (
                text, value)
    assert found > 1000  # the words were there often, not only missing


@pytest.mark.parametrize("seed", [3, 4])
def test_cutting_a_run_on_start_equals_the_plain_reading(seed: int) -> None:
    cut = 0
    for item in _items(seed, 3000):
        known = _known(item)
        expected = _reference_cut_once(item.summary, known)
        cut += expected is not None
        assert debris._cut_once(item.summary, known) == expected, item
        assert debris.strip_run_on(item.summary, known) == _reference_strip_run_on(
            item.summary, known), item
    assert cut > 800  # something was cut often, not left alone every time


@pytest.mark.parametrize("seed", [5, 6])
def test_an_item_as_fed_equals_the_plain_reading(seed: int) -> None:
    changed = 0
    for item in _items(seed, 3000):
        expected = _reference_as_fed(item)
        changed += expected != item
        assert enrich.as_fed(item) == expected, item
    assert changed > 800  # tidied or cleaned often, not returned as it was every time


def test_an_item_filled_in_one_step_is_the_item_its_constructor_makes() -> None:
    # build_item names every field, in order: its items are what FeedItem(...) makes
    problems: list[str] = []
    item = items.build_item(
        source_id="s", position=1, feed_url="https://x/feed", guid="", link="/a?utm_source=x",
        title="T", summary="S", summary_html="<p>S</p>", text="", author="", sections=["a"],
        language="en", published=None, date_key="", images=[], html_for_image="",
        problems=problems)
    assert item is not None and not problems
    assert tuple(item.__dict__) == items.ITEM_FIELDS
    assert item == FeedItem(**item.__dict__) and item.url == "https://x/a"
    assert not hasattr(FeedItem, "__post_init__") and not hasattr(FeedItem, "__slots__")
    values = ["s", "g", "https://x/a", "T", "S", "<p>S</p>", "x", "A", ("a", "b"), "en",
              datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "https://x/i.jpg", "alt", True, "no"]
    fields = dict(zip(items.ITEM_FIELDS, values, strict=True))
    made, built = items.new_item(dict(fields)), FeedItem(**fields)
    assert made == built and type(made) is FeedItem and hash(made) == hash(built)
    assert pickle.dumps(made) == pickle.dumps(built)
    assert pickle.loads(pickle.dumps(made)) == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("sections", [[], [""], ["Economy"], [" Economy \n"], ["a", "a"],
                                      ["a", "", "b", "a"], ("x",), ["&amp;"], [None]])
def test_an_items_sections_are_each_named_once_in_order(sections: list[str]) -> None:
    assert items._unique_sections(sections) == tuple(
        dict.fromkeys(filter(None, map(items.plain, sections))))
