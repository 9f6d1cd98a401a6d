"""fastfeedparser in front, feedparser behind: what the switch must never change, and where
an editor sees which parser read a feed. (Field-for-field agreement over many feeds is in
test_feed_golden.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.digest.build import sanitize_html
from bot.ingest.parse import FASTFEEDPARSER, FEEDPARSER, parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://news.example.org/feeds/news.xml"


def test_a_feed_fastfeedparser_reads_does_not_load_feedparser() -> None:
    # feedparser takes ~50 ms to import: a poll whose feeds all take the fast path never
    # needs it. A fresh interpreter, since this one has long since imported it.
    code = ("import sys\nfrom pathlib import Path\nfrom bot.ingest.parse import parse_feed\n"
            f"body = Path({str(FEEDS / 'rss20_all_namespaces.xml')!r}).read_bytes()\n"
            f"parsed = parse_feed('s', body, url={URL!r})\n"
            "print(parsed.parser, len(parsed.items), 'feedparser' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out[0] == FASTFEEDPARSER and int(out[1]) > 0
    assert out[2] == "False"


@pytest.mark.parametrize("fast", [True, False], ids=["fastfeedparser", "feedparser"])
def test_relative_links_in_a_summary_are_made_absolute_by_either_parser(fast: bool) -> None:
    # feedparser's resolve_relative_uris is off: the pipeline resolves them itself.
    parsed = parse_feed("s", (FEEDS / "rss20_relative_links.xml").read_bytes(), url=URL,
                        fast=fast)
    first = parsed.items[0]
    assert parsed.parser == (FASTFEEDPARSER if fast else FEEDPARSER)
    assert 'href="https://news.example.org/related/0"' in first.summary_html
    assert 'src="https://news.example.org/feeds/img/0.jpg"' in first.summary_html
    assert first.url == "https://news.example.org/2025/06/rel-0"
    assert first.image_url == "https://news.example.org/feeds/img/0.jpg"
    assert 'href="https://news.example.org/related/0"' in sanitize_html(first.summary_html)


@pytest.mark.parametrize("fast", [True, False], ids=["fastfeedparser", "feedparser"])
def test_scripts_and_handlers_in_a_summary_never_reach_a_reader(fast: bool) -> None:
    # feedparser's sanitize_html is off: html_to_text and the digest's nh3 pass clean it.
    parsed = parse_feed("s", (FEEDS / "rss20_script_in_description.xml").read_bytes(),
                        url=URL, fast=fast)
    item = parsed.items[0]
    assert item.summary == "Hello there"
    digest_html = str(sanitize_html(item.summary_html))
    assert "script" not in digest_html and "alert" not in digest_html
    assert "onclick" not in digest_html and "style" not in digest_html


def test_a_broken_feed_falls_back_to_feedparser_whole_and_says_why() -> None:
    parsed = parse_feed("s", (FEEDS / "rss20_malformed_ampersand.xml").read_bytes(), url=URL)
    assert parsed.parser == FEEDPARSER
    assert "not well-formed" in parsed.fallback_reason
    assert [i.title for i in parsed.items] == ["Tom & Jerry", "Story number 2 about the harbour"]


def test_status_v_shows_which_parser_read_each_source(project: Path) -> None:
    feeds = project / "examples" / "feeds"
    (feeds / "broken.xml").write_bytes((FEEDS / "rss20_malformed_ampersand.xml").read_bytes())
    config = project / "config.yaml"
    config.write_text(config.read_text().replace(
        "sources:\n", "sources:\n  - id: loose\n    url: examples/feeds/broken.xml\n", 1))
    assert CliRunner().invoke(cli, ["--config", str(config), "once"]).exit_code == 0

    plain = CliRunner().invoke(cli, ["--config", str(config), "status"]).output
    verbose = CliRunner().invoke(cli, ["--config", str(config), "status", "-v"]).output
    assert "read by" not in plain
    lines = verbose.splitlines()
    loose = lines[lines.index(next(x for x in lines if x.strip().startswith("loose"))) + 1]
    assert "read by feedparser" in loose and "not well-formed" in loose
    assert "read by fastfeedparser" in verbose  # the bundled RSS and Atom samples
    assert "read by jsonfeed" in verbose
