"""The fast paths for URLs give what urllib and httpx give, for any string.

canonical_url spells a plain absolute http(s) URL without urljoin and urlsplit, and
link_problem accepts one without parsing it. Each is held to its general path over
generated URLs: odd schemes and hosts (ports out of range, IDNA, brackets, dots, letters
that fold to ASCII), path parameters, tracking parameters spelled in every way, whitespace
and control characters around and inside, and bases urljoin cannot read.
"""

from __future__ import annotations

import random

import pytest

from bot.ingest import urls
from bot.linkcheck import _parsed_link_problem, link_problem

SCHEMES = ["http", "https", "HTTP", "Https", "ftp", "javascript", "", "http:", "feed"]
HOSTS = ["example.org", "EXAMPLE.org", "news.example.org.", "h.com:80", "h.com:443",
         "h.com:8080", "h.com:99999", "h.com:65535", "h.com:65536", "h.com:0", "h.com:080",
         "h_b.com", "h~b.com", "1.2.3.4", "-h.com", "..", "a..b", "xn--bcher-kva.example",
         "XN--x", "münchen.de", "[::1]", "[::1", "user:pw@h.com", "h.com:", "h.com:a", "",
         "h com", "ſ.com", "\u212a.com", "ı.com", "ＥＸＡＭＰＬＥ.com"]
PATHS = ["", "/", "/a/b", "/a/../b", "/%20", "/a\\b", "/a@b", "/a:b", "/~x", "/index.html",
         "//x", "/a;p", "/a;", "/a b", "/ä", "/a\x00", "/a\x7f", "/a\u00a0", "/ſ"]
QUERIES = ["", "?", "?a=1", "?utm_source=rss", "?a=1&utm_medium=x&b=2", "?UTM_SOURCE=1",
           "?utm%5Fsource=1", "?utm+source=1", "?fbclid=1&&x=", "?&", "?a=%",
           "?ref_src=a&_ga=b&gclid", "?a=1;b", "?x=/y?z", "??", "?a=ä", "?a b"]
FRAGMENTS = ["", "#", "#f", "#x?y", "#a b", "#ä"]
RELATIVE = ["x", "/x", "../x", "?a=1", "#f", "//h2.com/p", "mailto:a@b", "javascript:x",
            "/etc/passwd", "file:///etc/passwd", "http:/x"]
BASES = [None, "", "http://127.0.0.1:1/feed/1.xml", "https://news.example.org/feeds/a.xml",
         " https://h.com/x ", "http://[::1", "feed.xml", "https://[::1]/x", "HTTP://H.com/a"]
AROUND = ["", "", "", " ", "\t", "\n", "\x00", "\u00a0"]


def _urls(seed: int, count: int) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        if rng.random() < 0.1:
            url = rng.choice(RELATIVE)
        else:
            ordinary = rng.random() < 0.6  # mostly URLs the fast paths take
            url = (f"{rng.choice(SCHEMES[:4] if ordinary else SCHEMES)}://"
                   f"{rng.choice(HOSTS[:15] if ordinary else HOSTS)}"
                   f"{rng.choice(PATHS[:10] if ordinary else PATHS)}"
                   f"{rng.choice(QUERIES[:14] if ordinary else QUERIES)}{rng.choice(FRAGMENTS)}")
        found.append((rng.choice(AROUND) + url + rng.choice(AROUND), rng.choice(BASES)))
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_canonical_url_of_a_plain_url_equals_the_urllib_reading(seed: int) -> None:
    plain = 0
    for url, base in _urls(seed, 3000):
        plain += urls._PLAIN_ABSOLUTE.fullmatch(url.strip()) is not None
        assert urls.canonical_url(url, base) == urls._canonical_parsed(url.strip(), base), (
            url, base)
    assert plain > 500  # the fast path was taken often, not handed every URL back


@pytest.mark.parametrize("seed", [3, 4])
def test_link_problem_of_a_plain_url_equals_the_full_check(seed: int) -> None:
    for url, base in _urls(seed, 3000):
        for candidate in (url, urls.canonical_url(url, base)):
            assert link_problem(candidate) == _parsed_link_problem(candidate), candidate


def test_a_host_with_a_letter_that_folds_to_ascii_is_checked_as_httpx_reads_it() -> None:
    # "ſ" matches "s" case-insensitively; httpx refuses the host, so the link is not used
    assert link_problem("http://ſ.com/") == "it is not a valid URL"
    assert link_problem("http://example.com/ſ") is None  # in the path it is only encoded


@pytest.mark.parametrize("seed", [5, 6])
def test_a_link_said_to_pass_the_check_passes_it(seed: int) -> None:
    # build_item skips link_problem for a link canonical_link vouches for.
    vouched = 0
    for url, base in _urls(seed, 3000):
        spelled, linkable = urls.canonical_link(url, base)
        assert spelled == urls.canonical_url(url, base), (url, base)
        if linkable:
            vouched += 1
            assert link_problem(spelled) is None and _parsed_link_problem(spelled) is None, (
                url, base)
    assert vouched > 500
