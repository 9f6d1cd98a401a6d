"""Plain-text and Markdown articles, saved pages, and folder sources: a scraper's or a CMS
export's files are articles like a feed's items."""

from __future__ import annotations

import io
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.ingest.article_file import NotAnArticle, read_article_file
from bot.ingest.poll import make_fetcher, poll_source
from bot.preview_article import preview_article
from bot.store import Store

DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "iraq-back-to-back-raids.txt"
LEDE = "Iraqi forces are conducting consecutive offensives against"
HEADLINE = "Iraqi forces stage back-to-back raids on ISIS"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_the_corpus_text_file_gives_its_headline_and_a_clean_lede() -> None:
    article = read_article_file(CORPUS.read_bytes(), CORPUS.name)
    page = article.page
    assert page.title == HEADLINE  # not the section label "Iraq News"
    assert page.lede.startswith(LEDE)
    for debris in ("Alaa Hussain", "Photo courtesy", "Iraq News", "Comment", "1500"):
        assert debris not in page.lede
    assert page.text.endswith("al-Aasam said.")
    assert "Do you like this article?" not in page.text


def test_a_markdown_article_reads_its_front_matter_heading_and_image() -> None:
    body = b"""---
url: https://news.example.org/en/2026/11/basra-cranes
---
# Basra port installs four new gantry cranes

*Economy* | By Layla Karim

![Workers inspect a gantry crane at Umm Qasr port](https://news.example.org/media/cranes.jpg)

Four **ship-to-shore** gantry cranes began work at [Umm Qasr port](https://x.example) on
Sunday, doubling the number of containers the terminal can lift in an hour.

## Next steps

- Officials expect shorter waits for container ships.
"""
    article = read_article_file(body, "cranes.md")
    assert article.url == "https://news.example.org/en/2026/11/basra-cranes"
    assert article.page.title == "Basra port installs four new gantry cranes"
    assert article.page.lede.startswith("Four ship-to-shore gantry cranes began work at Umm "
                                        "Qasr port on Sunday")
    assert article.page.image_url == "https://news.example.org/media/cranes.jpg"


@pytest.mark.parametrize(("body", "why"), [
    (b"", "empty"), (b"   \n\n", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
])
def test_a_file_that_is_not_an_article_says_why(body: bytes, why: str) -> None:
    with pytest.raises(NotAnArticle, match=why):
        read_article_file(body, "story.txt")


PREVIEW_CONFIG = """
timezone: UTC
sources: [{id: en, url: feed.xml}]
channels:
  tg: {type: telegram, chat: "@c"}
  x: {type: x}
"""


@pytest.mark.parametrize("suffix", [".txt", ".md"])
async def test_preview_of_a_text_article_shows_the_headline_and_lede_on_every_channel(
        tmp_path: Path, suffix: str) -> None:
    file = tmp_path / f"raids{suffix}"
    shutil.copy(CORPUS, file)
    out = io.StringIO()
    await preview_article(parse_config(PREVIEW_CONFIG, base_dir=tmp_path), str(file), echo=out)
    printed = out.getvalue()
    assert printed.splitlines()[0] == HEADLINE
    for channel in ("── tg (telegram)", "── x (x)"):
        part = printed.split(channel, 1)[1].split("── ", 1)[0]
        assert HEADLINE in part and LEDE in part
        assert "Alaa Hussain" not in part and "Photo courtesy" not in part
        assert "Comment" not in part and str(tmp_path) not in part.splitlines()[1]


FOLDER_CONFIG = """
timezone: UTC
public_url: https://news.example.org/inbox
fetch: {max_bytes: 100000}
sources: [{id: desk, url: inbox/}]
channels:
  tg: {type: telegram, chat: "@c"}
"""


async def poll(config_dir: Path, store: Store, now: datetime) -> tuple[int, str]:
    config = parse_config(FOLDER_CONFIG, base_dir=config_dir)
    async with make_fetcher(config) as fetcher:
        report = await poll_source(config.sources[0], config=config, store=store,
                                   fetcher=fetcher, now=now)
    assert report.ok, report.error
    return report.new, store.source_state("desk").note


async def test_a_folder_source_posts_each_new_file_once_and_names_the_bad_ones(
        tmp_path: Path, sqlite_store: Store) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(CORPUS, inbox / "raids.txt")
    shutil.copy(DATA / "pages" / "wordpress-classic.html", inbox / "cranes.html")
    (inbox / "bridge.md").write_text(
        "# Mosul's old iron bridge reopens\n\nResidents of Mosul walked across the city's "
        "restored iron bridge on Thursday for the first time since 2021.\n", encoding="utf-8")
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "photo.txt").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)))
    (inbox / "dump.html").write_bytes(b"<p>" + b"x" * 200_000 + b"</p>")
    (inbox / "notes.jpg").write_bytes(b"\xff\xd8")  # not an article file: ignored

    new, note = await poll(tmp_path, sqlite_store, NOW)

    assert new == 3
    urls = {sqlite_store.get_article(d.article_id).url for d in sqlite_store.deliveries()}
    assert urls == {
        "https://news.example.org/inbox/raids.txt",  # public_url + the file's name
        "https://www.tigrisherald.example/news/2026/11/basra-port-cranes",  # its canonical
        "https://news.example.org/inbox/bridge.md",
    }
    titles = {sqlite_store.get_article(d.article_id).title for d in sqlite_store.deliveries()}
    assert HEADLINE in titles
    for bad in ("'empty.txt'", "'photo.txt'", "'dump.html'"):
        assert bad in note and "not posted" in note
    assert "notes.jpg" not in note

    again, note = await poll(tmp_path, sqlite_store, NOW + timedelta(minutes=5))
    assert again == 0
    assert "'empty.txt'" in note  # still reported while the file is there

    later = inbox / "port.txt"
    later.write_text("URL: https://news.example.org/en/2026/11/port\n\nPort reopens\n\n"
                     "The port of Faw reopened on Monday after two days of high winds, the "
                     "ports company said.\n", encoding="utf-8")
    stamp = (NOW + timedelta(minutes=7)).timestamp()
    os.utime(later, (stamp, stamp))
    newer, _ = await poll(tmp_path, sqlite_store, NOW + timedelta(minutes=10))
    assert newer == 1
    assert sqlite_store.find_article(url="https://news.example.org/en/2026/11/port",
                                     source_id="desk", guid="") is not None
