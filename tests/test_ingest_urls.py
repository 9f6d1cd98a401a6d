"""canonical_url: one spelling per article, however it was linked."""

from __future__ import annotations

import pytest

from bot.ingest.urls import canonical_url, strip_userinfo


@pytest.mark.parametrize(
    "param",
    [
        "utm_source=rss",
        "utm_medium=feed",
        "utm_campaign=x",
        "fbclid=IwAR0",
        "gclid=abc",
        "mc_cid=1",
        "mc_eid=2",
        "igshid=3",
        "ref_src=twsrc",
        "_ga=2.1",
    ],
)
def test_tracking_parameters_are_dropped(param: str) -> None:
    url = f"https://news.example.org/en/story?{param}"
    assert canonical_url(url) == "https://news.example.org/en/story"


def test_other_parameters_are_kept_in_order_and_as_written() -> None:
    url = "https://news.example.org/a?z=1&utm_source=x&a=b%20c&fbclid=9&m="
    assert canonical_url(url) == "https://news.example.org/a?z=1&a=b%20c&m="


def test_fragment_is_dropped() -> None:
    assert canonical_url("https://news.example.org/a#comments") == "https://news.example.org/a"


def test_scheme_and_host_are_lowercased_but_not_the_path() -> None:
    assert canonical_url("HTTPS://News.Example.ORG/En/Story") == "https://news.example.org/En/Story"


def test_default_ports_are_dropped_and_others_kept() -> None:
    assert canonical_url("https://news.example.org:443/a") == "https://news.example.org/a"
    assert canonical_url("http://news.example.org:80/a") == "http://news.example.org/a"
    assert canonical_url("http://news.example.org:8080/a") == "http://news.example.org:8080/a"


def test_relative_links_resolve_against_the_base() -> None:
    base = "https://news.example.org/en/rss.xml"
    assert canonical_url("/en/2026/11/story", base) == "https://news.example.org/en/2026/11/story"
    assert canonical_url("story?utm_source=x", base) == "https://news.example.org/en/story"


def test_tracking_variants_of_one_link_are_equal() -> None:
    plain = canonical_url("https://news.example.org/en/story")
    assert canonical_url("https://NEWS.example.org/en/story?utm_source=tw#top") == plain
    assert canonical_url("https://news.example.org:443/en/story?fbclid=1") == plain


def test_userinfo_is_stripped_for_messages() -> None:
    assert strip_userinfo("https://user:pw@news.example.org/x") == "https://news.example.org/x"
