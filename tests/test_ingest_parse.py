"""parse_feed: every feed format, and every way a feed can be wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import SourceError
from bot.ingest.parse import parse_feed

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FEED_URL = "https://news.example.org/en/rss.xml"


def rss(items: str, *, head: str = "", channel: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{head}'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>Iraq News</title><link>https://news.example.org/en/</link>{channel}"
        f"{items}</channel></rss>"
    ).encode()


LONG = "A summary long enough to stand on its own, about a water plant opening on the Tigris."


# ---------------------------------------------------------------- the three formats


def test_rss_sample_yields_every_item_with_its_fields() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    assert parsed.title == "Iraq News"
    assert parsed.problems == ()
    assert len(parsed.items) == 6
    raids = parsed.items[0]
    assert raids.source_id == "iraq-en"
    assert raids.url == "https://news.example.org/en/2026/11/iraq-back-to-back-raids"
    assert raids.guid == raids.url
    assert raids.summary == ""
    assert raids.author == "Alaa Hussain"
    assert raids.sections == ("Security",)
    assert raids.language == "en"
    assert raids.published == datetime(2026, 11, 24, 6, 30, tzinfo=UTC)


def test_atom_sample_yields_arabic_items_with_language() -> None:
    url = "https://news.example.org/ar/atom.xml"
    parsed = parse_feed("iraq-ar", (EXAMPLES / "feeds/ar.atom.xml").read_bytes(), url=url)
    assert parsed.title == "أخبار العراق"
    assert len(parsed.items) == 4
    first = parsed.items[0]
    assert first.title == "افتتاح محطة ثانية لمعالجة المياه على نهر دجلة في بغداد"
    assert first.language == "ar"
    assert first.sections == ("خدمات", "بغداد")
    assert first.image_url == "https://news.example.org/media/2026/11/tigris-plant.jpg"
    assert first.summary.startswith("افتتحت أمانة بغداد")
    assert "\n\n" in first.summary  # the two <p> stay two paragraphs


def test_json_feed_sample_is_read() -> None:
    url = "https://news.example.org/en/world.json"
    parsed = parse_feed("world", (EXAMPLES / "feeds/world.json").read_bytes(), url=url)
    assert parsed.title == "Iraq News: Region and World"
    wheat, marathon, rail = parsed.items
    assert wheat.guid == "iraqnews-world-20261124-0120"
    assert wheat.image_url == "https://news.example.org/media/2026/11/wheat-harvest.jpg"
    assert wheat.sections == ("World", "Agriculture")
    assert wheat.author == "Reem Haddad"
    assert wheat.published == datetime(2026, 11, 24, 7, 45, tzinfo=UTC)
    assert marathon.url == "https://news.example.org/en/2026/11/erbil-marathon-returns"
    assert marathon.summary.startswith("About 3,000 runners")
    assert rail.url == "https://news.example.org/en/2026/11/amman-baghdad-rail-study"


def test_rss_1_0_rdf_is_read() -> None:
    body = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://news.example.org/"><title>Old</title>
    <link>https://news.example.org/</link><description>d</description></channel>
  <item rdf:about="https://news.example.org/a"><title>An RDF item</title>
    <link>https://news.example.org/a</link><description>Text.</description></item>
</rdf:RDF>"""
    parsed = parse_feed("s", body, url=FEED_URL)
    assert [i.title for i in parsed.items] == ["An RDF item"]


def test_rss_0_91_is_read() -> None:
    body = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title>
<link>https://news.example.org/</link><description>d</description>
<item><title>A 0.91 item</title><link>https://news.example.org/b</link></item></channel></rss>"""
    parsed = parse_feed("s", body, url=FEED_URL)
    assert [i.url for i in parsed.items] == ["https://news.example.org/b"]


def test_local_sample_feed_resolves_relative_links_against_its_site() -> None:
    path = EXAMPLES / "feeds/en.rss.xml"
    parsed = parse_feed("iraq-en", path.read_bytes(), url=str(path))
    book_fair = parsed.items[4]
    assert book_fair.url == "https://news.example.org/en/2026/11/mosul-book-fair"
    assert book_fair.image_url == "https://news.example.org/media/2026/11/mosul-book-fair.jpg"


# ---------------------------------------------------------------- fields


def test_tracking_parameters_are_dropped_from_item_links() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    assert parsed.items[2].url == "https://news.example.org/en/2026/11/basra-oil-exports"


def test_entities_in_titles_and_summaries_are_decoded() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    water, curriculum = parsed.items[1], parsed.items[5]
    assert "300,000 cubic metres" in water.summary
    assert "&nbsp;" not in water.summary
    assert (
        curriculum.title == "Kurdistan Region schools adopt a new science & technology curriculum"
    )
    assert "science & technology" in curriculum.summary


def test_summary_html_keeps_the_feeds_markup() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    assert parsed.items[1].summary_html.startswith("<p>Baghdad Mayoralty")


def test_media_description_does_not_replace_the_summary() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    water = parsed.items[1]
    assert water.summary.startswith("Baghdad Mayoralty opened")
    assert water.image_alt == "The new treatment plant on the east bank of the Tigris"


def test_lead_image_from_media_content() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    assert parsed.items[1].image_url == "https://news.example.org/media/2026/11/tigris-plant.jpg"


def test_lead_image_from_an_image_enclosure() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    assert parsed.items[2].image_url == "https://news.example.org/media/2026/11/basra-terminal.jpg"


def test_lead_image_from_the_first_img_in_the_content_made_absolute() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    book_fair = parsed.items[4]
    assert book_fair.image_url == "https://news.example.org/media/2026/11/mosul-book-fair.jpg"
    assert book_fair.image_alt == "Visitors browse stalls in Mosul's old city"


def test_an_item_without_an_image_has_none() -> None:
    parsed = parse_feed("iraq-en", (EXAMPLES / "feeds/en.rss.xml").read_bytes(), url=FEED_URL)
    assert parsed.items[5].image_url is None


def test_language_falls_back_to_the_given_default() -> None:
    body = rss(
        f"<item><title>T</title><link>https://news.example.org/a</link>"
        f"<description>{LONG}</description></item>"
    )
    parsed = parse_feed("s", body, url=FEED_URL, language="en")
    assert parsed.items[0].language == "en"


def test_an_item_without_a_date_has_no_published_time() -> None:
    body = rss("<item><title>T</title><link>https://news.example.org/a</link></item>")
    assert parse_feed("s", body, url=FEED_URL).items[0].published is None


def test_an_item_without_a_guid_uses_its_link() -> None:
    body = rss("<item><title>T</title><link>https://news.example.org/a?utm_source=x</link></item>")
    assert parse_feed("s", body, url=FEED_URL).items[0].guid == "https://news.example.org/a"


# ---------------------------------------------------------------- bad input


def test_relative_item_links_resolve_against_the_feed_url() -> None:
    body = rss("<item><title>T</title><link>../2026/11/story</link></item>")
    parsed = parse_feed("s", body, url="https://news.example.org/en/feeds/rss.xml")
    assert parsed.items[0].url == "https://news.example.org/en/2026/11/story"


def test_an_item_with_no_link_is_skipped_and_named() -> None:
    body = rss(
        "<item><title>Linkless story</title><guid isPermaLink='false'>x-17</guid></item>"
        "<item><title>Fine</title><link>https://news.example.org/fine</link></item>"
    )
    parsed = parse_feed("s", body, url=FEED_URL)
    assert [i.title for i in parsed.items] == ["Fine"]
    assert parsed.problems == (
        "item 1 ('Linkless story'): no link, and its id is not a URL; skipped",
    )


def test_an_item_with_no_link_but_a_url_guid_uses_the_guid() -> None:
    body = rss("<item><title>T</title><guid>https://news.example.org/by-guid</guid></item>")
    assert parse_feed("s", body, url=FEED_URL).items[0].url == "https://news.example.org/by-guid"


def test_an_item_with_no_title_takes_the_first_words_of_its_summary() -> None:
    body = rss(
        f"<item><link>https://news.example.org/a</link><description>{LONG}</description></item>"
    )
    title = parse_feed("s", body, url=FEED_URL).items[0].title
    assert title.startswith("A summary long enough")
    assert len(title) <= 90


def test_an_item_with_no_title_and_no_summary_is_skipped_and_named() -> None:
    body = rss("<item><link>https://news.example.org/untitled</link></item>")
    parsed = parse_feed("s", body, url=FEED_URL)
    assert parsed.items == ()
    assert "item 1 (id 'https://news.example.org/untitled'): no title" in parsed.problems[0]


def test_malformed_xml_with_no_items_is_an_error() -> None:
    with pytest.raises(SourceError, match="malformed XML") as caught:
        parse_feed(
            "iraq-en",
            b"<rss version='2.0'><channel><title>x</title><item><title>a</ti",
            url=FEED_URL,
        )
    assert caught.value.source_id == "iraq-en"
    assert FEED_URL in str(caught.value)


def test_malformed_xml_that_still_yields_items_is_a_problem_not_an_error() -> None:
    body = (
        b"<rss version='2.0'><channel><title>x</title><item><title>A & B</title>"
        b"<link>https://news.example.org/a</link></item>"
    )
    parsed = parse_feed("s", body, url=FEED_URL)
    assert [i.title for i in parsed.items] == ["A & B"]
    assert "not well-formed" in parsed.problems[0]


def test_an_html_page_instead_of_a_feed_is_an_error_that_says_so() -> None:
    page = (EXAMPLES / "pages/iraq-back-to-back-raids.html").read_bytes()
    with pytest.raises(SourceError) as caught:
        parse_feed(
            "iraq-en",
            page,
            url="https://news.example.org/en/",
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
    message = str(caught.value)
    assert "got an HTML page, not a feed" in message
    assert "check the URL" in message
    assert "/en/rss.xml" in message  # the page's own <link rel="alternate"> as a hint


def test_an_empty_body_is_an_error() -> None:
    with pytest.raises(SourceError, match="empty body"):
        parse_feed("s", b"  \n", url=FEED_URL)


def test_a_feed_with_no_items_is_not_an_error_but_a_problem() -> None:
    parsed = parse_feed("s", rss(""), url=FEED_URL)
    assert parsed.items == ()
    assert parsed.problems == ("the feed has no items",)


def test_xml_that_is_not_a_feed_is_an_error() -> None:
    with pytest.raises(SourceError, match="not RSS, Atom or JSON Feed"):
        parse_feed("s", b"<?xml version='1.0'?><sitemap><url/></sitemap>", url=FEED_URL)


def test_json_that_is_not_a_json_feed_is_an_error() -> None:
    with pytest.raises(SourceError, match="not a JSON Feed"):
        parse_feed("s", b'{"hello": "world"}', url=FEED_URL)


def test_a_wrong_declared_encoding_is_a_problem_and_the_text_is_still_right() -> None:
    body = (
        rss(
            "<item><title>Caf\u00e9 reopens on the citadel square</title>"
            "<link>https://news.example.org/cafe</link></item>"
        )
        .decode()
        .encode("windows-1252")
    )
    parsed = parse_feed(
        "s", body, url=FEED_URL, headers={"Content-Type": "application/rss+xml; charset=utf-8"}
    )
    assert parsed.items[0].title == "Caf\u00e9 reopens on the citadel square"
    assert "declared character encoding was wrong" in parsed.problems[0]


def test_a_declared_charset_is_respected() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        b"<item><title>Caf\xe9</title><link>https://news.example.org/c</link></item>"
        b"</channel></rss>"
    )
    parsed = parse_feed(
        "s", body, url=FEED_URL, headers={"Content-Type": "application/rss+xml; charset=iso-8859-1"}
    )
    assert parsed.items[0].title == "Caf\u00e9"


def test_bidi_overrides_in_titles_are_removed() -> None:
    body = rss(
        "<item><title>Safe \u202eevil\u202c title</title>"
        "<link>https://news.example.org/a</link></item>"
    )
    assert parse_feed("s", body, url=FEED_URL).items[0].title == "Safe evil title"
