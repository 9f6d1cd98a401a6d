"""The fast paths of bot/text.py give what the HTML parser gives, for any string.

html_to_text reads simple markup without html.parser, and plain() normalises text without
escaping it for a parser to unescape. Each is held to its reference over thousands of
generated strings built from pieces that have broken such shortcuts before: entities with
and without ";", stray "<", quoted ">" in attributes, raw-text elements, every kind of
whitespace and control character, the private-use sentinels html_to_text uses itself.
"""

from __future__ import annotations

import html
import random

import pytest

from bot import text
from bot.ingest.items import plain

PIECES = [
    "a", "Word", " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", "\n \n", " \r \n", "\u00a0",
    "\u2007", "\u202f", "\u2003", "\u2028", "\u200b", "\u200d", "\ufeff", "\x00", "\x07",
    "\x0b", "\x0c", "\x1f", "\x7f", "\x85", "\x9f", "\u202e", "\u2066", "\ue000", "\ue001",
    "é", "日本", "👩\u200d💻", "x" * 300,
    "&amp;", "&lt;", "&gt;", "&nbsp;", "&#160;", "&#x202e;", "&#1;", "&#0;", "&#128;",
    "&eacute", "&amp", "&", "&;", "&#", "&#x;", "&bogus;", "&amp;amp;", "&#xe000;",
    "<", ">", "< ", "<3", "<<", "</", "<!-- c -->", "<!doctype html>", "<?pi?>",
    "<![CDATA[x]]>", "<p>", "</p>", "<P>", "<p/>", "<p />", "<br>", "<br/>", "<br />", "<BR>",
    "</br>", '<div class="x">', "</div>", "<b>", "</b>", "</i >", "<h1>", "</h2>", "<li>",
    "<td>", "<span>", '<a href="http://x/?a=1&amp;b=2">', "<a href='y'>", "<a href=z>",
    "<a href=/z>", '<a title="a>b">', "</a>", '<img src="x.png" alt="<&>"/>', "<img src=x>",
    '<a\thref="x"\n>', '<a href = "x">', '<a href="x"title="y">', "<a b c>", "<a b=>",
    "<a =b>", "<a b='\"'>", "<script>", "</script>", "<script>x<p>y</script>",
    "<style>p{}</style>", "<title>t</title>", "<head>", "<textarea>", "</textarea>",
    "<template>", "<noscript>", "<my-tag>", "<o:p>", "</o:p>", "<x\u00a0y>", "<p\u00a0>",
    "<p\x00>", "<p\n>", "< p>", "<p", '<a href="x', "<1>", "<>", "</>", "<a/b>", "<br / >",
    "<!---->", "<!-->", "<!--->", "<!-- a -- b -->", "<!-- a --->", "<!-- a --!>", "<!-- > -->",
    "<!--<p>-->", "<!-- wp:image {\"id\":1} -->", "<!--", "-->", "--", "<o:p>", "</x.y>",
    "<my-tag a=b>", "<x_y/>", "<p:q\x00>", "<a@b>", '<iframe src="x"></iframe>',
    "<script></script>", "<plaintext></plaintext>", "<iframe></IFRAME>", "<iframe/></iframe>",
    "<title></title>", "<iframe>x</iframe>", "<script><p></script>", "</iframe>", "<iframe>",
]
# The pieces the fast reading accepts: strings of these alone exercise it rather than the
# parser it hands everything else to.
SIMPLE = [
    "a", "Word", " ", "\t", "\n", "\r\n", "\n\n", "\u00a0", "\u2003", "\u200b", "\x00", "\x0b",
    "\x85", "\u202e", "\ue000", "\ue001", "é", "&amp;", "&lt;", "&nbsp;", "&#x202e;", "&#1;",
    "&eacute", "&amp", "&", "&;", "&bogus;", "&#xe000;", ">", "<p>", "</p>", "<P>", "<p/>",
    "<br>", "<br/>", "<br />", '<div class="x">', "</div>", "<b>", "</i >", "<li>",
    '<a href="http://x/?a=1&amp;b=2">', "<a href='y'>", "<a href=z>", '<a title="a>b">',
    '<img src="x.png" alt="<&>"/>', '<a\thref="x"\n>', '<a href = "x">', "<a b c>",
    "<!---->", "<!-- a -->", "<!-- wp:paragraph -->", "<!--<p>-->", "-->", "-", "<o:p>",
    "</o:p>", "<my-tag>", "</x.y >", '<iframe src="x" title="a"></iframe>', "<script></script>",
    "<title></title>", "<iframe/></IFRAME>", "<iframe>", "</iframe>",
]

# Printable text (most titles and summaries): str.isprintable lets it skip whole steps.
PRINTABLE = ["Title", " ", "  ", "a-b", "é", "“q”", "日本", "Ω", "👩", "x" * 300, "<p>", "</p>"]


def _strings(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        draw = rng.random()
        pool = PRINTABLE if draw < 0.2 else SIMPLE if draw < 0.7 else PIECES
        found.append("".join(rng.choice(pool) for _ in range(rng.randint(0, 30))))
    return found


def _reference_html_to_text(value: str) -> str:
    """html_to_text with every string read by html.parser and laid out line by line."""
    if not value:
        return ""
    if not text._LOOKS_LIKE_HTML.search(value):
        value = text._BLANK_LINE.sub("<p>", value).replace("\n", "<br>")
    raw = text._SPACES.sub(" ", text._parsed_markup(value))
    raw = text._LINE_RUN.sub(text._PARA, raw)
    paragraphs = []
    for block in raw.split(text._PARA):
        lines = [line.strip() for line in block.split(text._LINE)]
        if any(lines):
            paragraphs.append("\n".join(line for line in lines if line))
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize("seed", [1, 2])
def test_simple_markup_is_read_as_the_html_parser_reads_it(seed: int) -> None:
    read = 0
    for value in _strings(seed, 2000):
        fast = text._simple_markup(value)
        if fast is not None:
            read += 1
            assert fast == text._parsed_markup(value), repr(value)
    assert read > 600  # the fast reading was tried on many strings, not handed them all back


@pytest.mark.parametrize("seed", [3, 4])
def test_html_to_text_equals_the_parser_reading_for_any_string(seed: int) -> None:
    for value in _strings(seed, 2000):
        assert text.html_to_text(value) == _reference_html_to_text(value), repr(value)


@pytest.mark.parametrize("seed", [5, 6])
def test_plain_equals_escaping_the_text_and_reading_it_as_html(seed: int) -> None:
    for value in _strings(seed, 2000):
        reference = _reference_html_to_text(html.escape(value, quote=False))
        assert plain(value) == reference.replace("\n\n", " "), repr(value)
        if "<" not in value and "&" not in value:
            assert text.plain_to_text(value) == text.html_to_text(value), repr(value)


@pytest.mark.parametrize("seed", [7, 8])
def test_clean_title_of_printable_text_equals_the_step_by_step_cleaning(seed: int) -> None:
    for value in _strings(seed, 2000) + [p for p in PIECES + PRINTABLE]:
        assert text.clean_title(value) == text._cleaned_title(value), repr(value)


def test_simple_markup_hands_raw_text_elements_and_odd_tags_to_the_parser() -> None:
    for value in ("<script>x</script>", "a<title>t</title>", "<textarea>b</textarea>",
                  "a</br>b", "a < b <p>", "<!-- a -- b --><p>", "<!--->", "<p\u00a0>x",
                  '<a href="x"title="y">', "<!doctype html>", "<iframe>x</iframe>",
                  "<plaintext></plaintext>", "<script></style>"):
        assert text._simple_markup(value) is None, value


@pytest.mark.parametrize("seed", [9, 10])
def test_one_paragraph_of_printable_text_reads_as_the_parser_reads_it(seed: int) -> None:
    # html_to_text takes "<p>…</p>" around printable text without the markup reader
    rng = random.Random(seed)
    inside = [*PRINTABLE, "&amp;", "<b>", "\u00a0", "\t", "\x85", "\u202e", "\ue000", "</p><p>"]
    for _ in range(3000):
        value = "".join(rng.choice(inside) for _ in range(rng.randint(0, 12)))
        for wrapped in (f"<p>{value}</p>", f"<p>{value}</p> ", f"<P>{value}</p>"):
            assert text.html_to_text(wrapped) == _reference_html_to_text(wrapped), repr(wrapped)
