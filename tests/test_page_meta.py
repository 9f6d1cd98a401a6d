"""What a page declares about itself, read right even when the declarations are untidy."""

from __future__ import annotations

import json

from lxml import html as lxml_html

from bot.ingest.page_meta import read_declared


def page(head: str, body: str = "") -> object:
    return lxml_html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")


def ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def test_the_pages_own_article_is_chosen_over_related_stories_in_json_ld() -> None:
    related = {"@type": "NewsArticle", "headline": "Another story entirely",
               "articleBody": "Text of another story. " * 20}
    own = {"@type": "NewsArticle", "headline": "Cranes arrive at Umm Qasr",
           "articleBody": "Four cranes began work on Sunday. " * 10}
    declared = read_declared(page(
        '<meta property="og:title" content="Cranes arrive at Umm Qasr">'
        + ld({"@type": "ItemList", "itemListElement": []}) + ld([related, own])))
    assert declared.title == "Cranes arrive at Umm Qasr"
    assert declared.article_body.startswith("Four cranes began work")


def test_a_json_ld_headline_cut_short_gives_way_to_the_full_one() -> None:
    full = "Engineers finish repairs to the Kut barrage gates after eighty years of leaks"
    declared = read_declared(page(
        f'<meta property="og:title" content="{full}">'
        + ld({"@type": "NewsArticle", "headline": full[:40] + "…"}), f"<h1>{full}</h1>"))
    assert declared.title == full


def test_wordpress_caption_shortcodes_are_not_part_of_the_body() -> None:
    body = ('[caption id="attachment_9" width="800"]<img src="a.jpg"> Police on patrol in '
            'Mosul.[/caption] Police said [the suspects] were held. [embed]https://v[/embed]')
    declared = read_declared(page(ld({"@type": "NewsArticle", "articleBody": body})))
    assert "Police on patrol" not in declared.article_body
    assert "Police said [the suspects] were held." in declared.article_body


def test_a_page_rendered_in_the_browser_gives_its_story_from_next_data() -> None:
    from bot.ingest.extract import extract_page

    story = ("Five international consortia have submitted bids to build the first line of the "
             "Baghdad metro, a project planned and postponed several times since the 1980s.")
    state = {"props": {"pageProps": {"globalContent": {"content_elements": [
        {"type": "image", "url": "https://cdn.example.org/metro.jpg"},
        {"type": "text", "content": story},
        {"type": "text", "content": "The line would run from Kadhimiya to <b>Karrada</b>."}]}}}}
    body = ("<html><head><meta property='og:title' content='Metro bids'></head><body>"
            "<div id='__next'><div class='loading'>Loading…</div></div>"
            f"<script id='__NEXT_DATA__' type='application/json'>{json.dumps(state)}</script>"
            "</body></html>")
    page = extract_page(body, "https://www.example.org/metro")
    assert page.lede.startswith("Five international consortia")
    assert "<b>" not in page.text
