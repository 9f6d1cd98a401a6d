"""html_to_text and cut_summary: what feed HTML becomes, and how summaries are cut."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import cut_summary, html_to_text

# ---------------------------------------------------------------- html_to_text


def test_entities_are_decoded_to_characters() -> None:
    assert html_to_text("Science&nbsp;&amp;&nbsp;technology &quot;now&quot; &#8212; &eacute;") == (
        'Science & technology "now" — é'
    )


def test_double_escaped_entities_from_rss_descriptions_are_decoded() -> None:
    # <description>A &amp;amp; B</description> reaches us as the HTML "A &amp; B".
    assert html_to_text("300,000&nbsp;cubic &amp; more") == "300,000 cubic & more"


def test_tags_are_stripped_and_paragraphs_kept() -> None:
    html = "<div><p>First <b>bold</b> para.</p>\n<p>Second\n   para.</p></div>"
    assert html_to_text(html) == "First bold para.\n\nSecond para."


def test_single_br_is_a_line_break_and_double_br_a_paragraph() -> None:
    assert html_to_text("one<br>two<br/><br />three") == "one\ntwo\n\nthree"


def test_script_and_style_contents_never_appear() -> None:
    html = "<style>p{color:red}</style><p>Text</p><script>alert('x')</script>"
    assert html_to_text(html) == "Text"


def test_control_and_bidi_override_characters_are_removed() -> None:
    text = html_to_text("safe\u202etxt.exe\u2066x\u2069 \x07bell\x00")
    assert text == "safetxt.exex bell"


def test_plain_text_keeps_its_blank_line_paragraphs() -> None:
    assert html_to_text("Para one.\n\nPara two\nsame para.") == "Para one.\n\nPara two\nsame para."


def test_a_less_than_sign_in_plain_text_survives() -> None:
    assert html_to_text("prices < 5 dinars & rising") == "prices < 5 dinars & rising"


def test_empty_html_gives_empty_text() -> None:
    assert html_to_text("") == ""
    assert html_to_text("<p> </p><div></div>") == ""


# ---------------------------------------------------------------- cut_summary

TEXT = (
    "Iraqi forces are conducting consecutive offensives against remnants. "
    "As soon as one operation ends, another raid is mounted, officials said. "
    "The goal is to prevent them from regrouping."
)


def test_text_that_fits_is_unchanged() -> None:
    assert cut_summary(TEXT, len(TEXT)) == TEXT


def test_cut_at_the_last_sentence_end_within_the_limit() -> None:
    assert cut_summary(TEXT, 150) == (
        "Iraqi forces are conducting consecutive offensives against remnants. "
        "As soon as one operation ends, another raid is mounted, officials said."
    )


def test_cut_at_a_word_with_an_ellipsis_when_the_sentence_is_too_short() -> None:
    result = cut_summary(TEXT, 60)
    assert result == "Iraqi forces are conducting consecutive offensives against…"


def test_arabic_question_mark_ends_a_sentence() -> None:
    text = "هل تعود الأمطار هذا الأسبوع؟ توقعت الهيئة هطول أمطار غزيرة على نينوى ودهوك وأربيل."
    assert cut_summary(text, 40) == "هل تعود الأمطار هذا الأسبوع؟"


def test_a_combining_sequence_is_never_split() -> None:
    text = "e\u0301" * 40  # one long "word" of decomposed é
    result = cut_summary(text, 12)
    kept = result.removesuffix("…")
    assert len(result) <= 12
    assert text.startswith(kept)
    assert not unicodedata.combining(text[len(kept)])  # the cut falls before a base letter


def test_an_emoji_zwj_sequence_is_never_split() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    result = cut_summary(family * 5, 9)
    assert result[:-1] == family
    assert result.endswith("…")


def test_zero_or_negative_limit_gives_empty() -> None:
    assert cut_summary(TEXT, 0) == ""
    assert cut_summary(TEXT, -5) == ""


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from(" .!?؟\n"),
        max_size=300,
    ),
    limit=st.integers(min_value=-3, max_value=320),
)
def test_cut_summary_fits_is_a_prefix_and_ends_cleanly(text: str, limit: int) -> None:
    result = cut_summary(text, limit)
    assert len(result) <= max(limit, 0)
    if limit <= 0:
        assert result == ""
    elif len(text) <= limit:
        assert result == text
    elif result.endswith("…"):
        assert text.startswith(result[:-1])
    else:
        assert text.startswith(result)
        assert result.rstrip()[-1:] in set(".!?؟。\"'”’»)]")
