"""Telling a page's furniture from its story, line by line: what is dropped, and the story
sentences that look like furniture but are not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.ingest import debris
from bot.ingest.debris import Known, is_byline, is_debris, strip_run_on

KNOWN = Known(titles=("Border guards tighten watch on Syrian frontier",), authors=("Staff",),
              labels=("Iraq News",),
              captions=("Salaheddine police carry out a security operation in al-Sharqat.",))


@pytest.mark.parametrize("line", [
    "By Alaa Hussain in Baghdad", "By STAFF REPORTER", "By Jane Doe and John Roe, Reuters",
    "Reporting by Jane Doe; Editing by Mark Potter", "By Jane Doe | November 24, 2026",
    "بقلم حيدر الموسوي", "记者 王明", "김민수 기자",
])
def test_bylines_are_recognised(line: str) -> None:
    assert is_byline(line)


@pytest.mark.parametrize("line", [
    "By the end of the day, prices at the Baghdad wholesale market had fallen by a fifth.",
    "By 2030 the city expects to run its first metro line under the Tigris.",
    "From next month, fares on the airport road will rise by a tenth, officials said.",
    "記者会見で首相は来年度予算の概要を説明し、防衛費の増額について理解を求めた。",
    "文化部24日宣布，将在明年举办第三届国际博物馆论坛。",
    "Netflix raised subscription prices in Iraq on Tuesday, the company said.",
    "The newsletter industry grew quickly last year, analysts said.",
    "A spokesman for the ministry told Reuters the talks would resume in May.",
    "The ministry said the list of approved importers will be updated every month.",
])
def test_story_sentences_that_look_like_furniture_are_kept(line: str) -> None:
    assert not is_debris(line, Known(), leading=True)


@pytest.mark.parametrize("line", [
    "Sign up for our daily newsletter and get the top stories every morning.",
    "Subscribe", "Advertisement", "Story continues below advertisement",
    "Read more: Customs revenue at southern ports rises",
    "Protesters gather in Tahrir Square (AFP via Getty Images)",
    "Updated 6:12 AM EST, Mon November 24, 2026", "اقرأ أيضاً: ارتفاع أسعار الأسماك",
    "This is a developing story and will be updated.", "Follow live updates",
    "Have a news tip? Email us at tips@example.org",
])
def test_promos_related_links_captions_and_dates_are_debris(line: str) -> None:
    assert is_debris(line, Known())


def test_a_run_on_first_paragraph_is_cut_back_to_the_story() -> None:
    run_on = ("Iraq News Border guards tighten watch on Syrian frontier By Staff Salaheddine "
              "police carry out a security operation in al-Sharqat. Guards added new "
              "observation posts.")
    assert strip_run_on(run_on, KNOWN) == "Guards added new observation posts."


def test_a_story_that_starts_with_the_headlines_words_is_not_cut() -> None:
    known = Known(titles=("Oil exports rise",))
    line = "Oil exports rise to a record as the southern terminals reopen, the ministry said."
    assert strip_run_on(line, known) == line


@pytest.mark.parametrize("run_on", [
    "Oil exports hit a record By John Smith November 24, 2026 Iraq exported 3.4 million barrels "
    "a day, the ministry said.",
    "World Oil exports hit a record John Smith 3 hours ago Iraq exported 3.4 million barrels a "
    "day, the ministry said.",
    "By John Smith | Updated: Nov. 24, 2026 Iraq exported 3.4 million barrels a day, the "
    "ministry said.",
])
def test_headline_byline_and_date_run_together_are_cut(run_on: str) -> None:
    known = Known(titles=("Oil exports hit a record",), authors=("John Smith",))
    assert strip_run_on(run_on, known) == ("Iraq exported 3.4 million barrels a day, the "
                                           "ministry said.")


def test_a_story_that_starts_with_the_authors_name_is_not_cut() -> None:
    line = "John Smith said on Monday that exports rose to a record, the ministry said."
    assert strip_run_on(line, Known(authors=("John Smith",))) == line



_WORDS = ["Iraq", "News", "border", "Guards", "By", "Jane", "ſ", "K", "Ä", "é", "2026"]
_GAPS = [" ", "  ", " | ", ": ", "-", ".", ", ", "—", ""]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_GAPS)), max_size=8),
       st.integers(0, 4), st.sampled_from([str.lower, str.upper, str.title, str]),
       st.sampled_from(["", "Iraq ", "x"]))
@example([("ſ", " "), ("News", "")], 1, str.upper, "")  # "S" matches "ſ" under IGNORECASE
def test_the_quick_prefix_check_agrees_with_the_full_word_match(
        pieces: list[tuple[str, str]], taken: int, case: Callable[[str], str],
        before: str) -> None:
    # The value is the text's first words in another case (a headline run into a lede), or
    # the text has something before them.
    text = before + "".join(word + gap for word, gap in pieces)
    value = case(" ".join(word for word, _ in pieces[:taken]))
    found = debris._find_words(text[: len(value) + 40], value)
    assert debris._prefix_end(text, value) == (found[1] if found and found[0] == 0 else 0)


@pytest.mark.parametrize(("text", "value"), [
    ("s News: the lede.", "ſ"), ("ſ News: the lede.", "S"), ("K News", "k"),
    ("k News", "K"), ("IRAQ NEWS Border", "iraq news"), ("Iraqi News", "Iraq"),
])
def test_the_quick_prefix_check_follows_the_patterns_case_rules(text: str, value: str) -> None:
    found = debris._find_words(text[: len(value) + 40], value)
    assert debris._prefix_end(text, value) == (found[1] if found and found[0] == 0 else 0)
