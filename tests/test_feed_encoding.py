"""A feed that says UTF-8 is read as UTF-8 when it mostly is: a few broken bytes in a mostly
ASCII feed must not turn every "é" in it into "Ã©"; a feed that is really Latin-1 or cp1252
under a UTF-8 label is still read in its own encoding."""

from __future__ import annotations

from bot.ingest.parse import parse_feed

HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}


def feed(*titles: str) -> str:
    items = "".join(f"<item><title>{t}</title><link>https://news.example.org/{n}</link>"
                    "<description>Plain words.</description></item>"
                    for n, t in enumerate(titles))
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed</title><link>https://news.example.org/</link>{items}</channel></rss>")


def titles(body: bytes) -> tuple[list[str], tuple[str, ...]]:
    parsed = parse_feed("s", body, url="https://news.example.org/feed", headers=HEADERS)
    return [item.title for item in parsed.items], parsed.problems


def test_a_mostly_ascii_utf8_feed_with_a_few_broken_bytes_stays_utf8() -> None:
    # Lone surrogates \\udc80-\\udcff become the raw invalid bytes 0x80-0xff.
    body = feed("Caf\u00e9 society", "Broken \udcff\udcfe\udc80 bytes").encode(
        "utf-8", "surrogateescape")
    read, problems = titles(body)
    assert read == ["Caf\u00e9 society", "Broken bytes"]
    assert problems == ("3 invalid UTF-8 byte sequence(s) dropped",)


def test_a_cp1252_feed_labelled_utf8_is_still_read_as_cp1252() -> None:
    body = feed("Caf\u00e9 cr\u00e8me", "Na\u00efve r\u00e9sum\u00e9 \u2014 d\u00e9j\u00e0 vu"
                ).encode("cp1252")
    read, problems = titles(body)
    assert read == ["Caf\u00e9 cr\u00e8me",
                    "Na\u00efve r\u00e9sum\u00e9 \u2014 d\u00e9j\u00e0 vu"]
    assert "declared character encoding was wrong" in problems[0]
