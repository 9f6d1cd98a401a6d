"""Mastodon's length rules as its server counts, the post's front matter, and the default
template fitted to an instance's limit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.channels.mastodon_length import (
    InstanceRules,
    MastodonFormat,
    countable_length,
    forget,
    remember,
    rules_from_instance,
)
from bot.channels.mastodon_post import split_post
from bot.config import parse_config
from bot.models import Article
from bot.render import make_environment, render_post
from tests.fakes.mastodon_api import mastodon_length

API = "https://mastodon.example"


@pytest.fixture(autouse=True)
def _unknown_instance() -> None:
    forget(API)


@pytest.mark.parametrize(("text", "expected"), [
    ("plain words", 11),
    ("https://news.example.org/" + "a" * 200, 23),  # every URL is 23, however long
    ("see http://x.org and https://y.org/path?q=1", 4 + 23 + 5 + 23),
    ("news.example.org without a scheme counts in full", 48),
    ("thanks @editor@newsroom.example.org!", 7 + 7 + 1),  # the domain does not count
    ("@editor", 7),
    ("email me at desk@newsroom.example.org", 37),  # an address is no mention
    ("👍🏽 🇮🇶 👨‍👩‍👧", 5),  # skin tone, flag, family: one character each
    ("e\u0301", 1),  # a letter and its combining accent
    ("سدود على دجلة", 13),
    ("日本語のニュース", 8),
    ("   ", 0),
])
def test_counts_as_mastodon_does(text: str, expected: int) -> None:
    assert countable_length(text) == expected
    assert mastodon_length(text, "") == expected  # the local server agrees


def test_the_content_warning_counts_with_the_text() -> None:
    assert countable_length("body", "CW: war") == 4 + 7


def test_a_url_holding_an_at_sign_counts_once() -> None:
    assert countable_length("https://mastodon.social/@newsroom/1234") == 23


def test_the_limit_follows_what_the_instance_said() -> None:
    fmt = MastodonFormat(api_url=API)
    text = "a" * 600
    assert fmt.limit == 500 and not fmt.fits(text, with_media=False)

    remember(API, InstanceRules(max_characters=5000))

    assert fmt.limit == 5000 and fmt.fits(text, with_media=False)


def test_the_editors_cap_never_exceeds_the_instances_limit() -> None:
    remember(API, InstanceRules(max_characters=1000))
    assert MastodonFormat(api_url=API, max_characters=300).limit == 300
    assert MastodonFormat(api_url=API, max_characters=3000).limit == 1000


def test_measure_says_why_in_mastodons_terms() -> None:
    measured = MastodonFormat(api_url=API, spoiler="Graphic").measure("a" * 495,
                                                                    with_media=True)
    assert (measured.length, measured.limit, measured.unit) == (502, 500, "characters")
    assert "content warning included" in measured.problem and "at most 500" in measured.problem


def test_a_post_that_is_only_front_matter_is_empty() -> None:
    assert MastodonFormat(api_url=API).measure("---\nlanguage: en\n---\n",
                                               with_media=False).problem == "the post is empty"


def test_the_instances_answer_gives_the_rules() -> None:
    rules = rules_from_instance({"configuration": {
        "statuses": {"max_characters": 11000, "characters_reserved_per_url": 23},
        "media_attachments": {"supported_mime_types": ["image/png", "video/mp4"],
                              "image_size_limit": 8_000_000, "description_limit": 1500}}})
    assert rules == InstanceRules(max_characters=11000, image_bytes=8_000_000,
                                  image_types=frozenset({"image/png"}))
    assert rules_from_instance({"version": "4.0.0"}) == InstanceRules()


def test_front_matter_gives_language_warning_and_visibility() -> None:
    parts = split_post("---\nlanguage: pt-BR\nspoiler: Guerra  e paz\nvisibility: Unlisted\n"
                       "---\nTítulo\n\nhttps://x.org")
    assert (parts.body, parts.language, parts.spoiler, parts.visibility, parts.problem) == (
        "Título\n\nhttps://x.org", "pt", "Guerra e paz", "unlisted", "")


@pytest.mark.parametrize(("text", "problem"), [
    ("---\ncw: war\n---\nbody", "the keys are language, spoiler, visibility"),
    ("---\nvisibility: everyone\n---\nbody", "use one of public, unlisted, private, direct"),
    ("---\nlanguage: en\nlanguage: fr\n---\nbody", "sets 'language' twice"),
])
def test_a_mistake_in_the_front_matter_is_named(text: str, problem: str) -> None:
    assert problem in split_post(text).problem


@pytest.mark.parametrize("text", ["Title\n---\nlanguage: en\n---", "---\nno end", "--- \n"])
def test_only_a_closed_block_at_the_very_start_is_front_matter(text: str) -> None:
    parts = split_post(text)
    assert parts.body == text.strip() and parts.language == "" and not parts.problem


def _article() -> Article:
    return Article(
        id=1, source_id="en", guid="g1", url="https://news.example.org/en/2026/11/dams",
        title="Dams on the Tigris", summary=" ".join(["A sentence about water."] * 60),
        text="", author="", sections=("Environment", "Iraq"), language="en",
        published_at=datetime(2026, 11, 24, 9, tzinfo=UTC),
        discovered_at=datetime(2026, 11, 24, 9, tzinfo=UTC), image_url=None, image_alt="")


def test_the_default_template_fits_the_instances_limit_and_carries_the_language(
        tmp_path: Path) -> None:
    config = parse_config(f"channels: {{m: {{type: mastodon, api_url: '{API}'}}}}",
                          base_dir=tmp_path)
    cfg = config.channels["m"]
    fmt = MastodonFormat(api_url=API)
    post = render_post(make_environment(config), _article(), channel="m", cfg=cfg, fmt=fmt,
                       zone=ZoneInfo("UTC"))

    parts = split_post(post.text)
    assert parts.language == "en" and not parts.problem
    assert parts.body.startswith("Dams on the Tigris\n\nA sentence about water.")
    assert parts.body.endswith("\nhttps://news.example.org/en/2026/11/dams")
    assert 450 < countable_length(parts.body) <= 500  # cut to fit, not far below

    remember(API, InstanceRules(max_characters=5000))
    longer = render_post(make_environment(config), _article(), channel="m", cfg=cfg, fmt=fmt,
                         zone=ZoneInfo("UTC"))
    assert countable_length(split_post(longer.text).body) > 500  # the same format follows


def test_a_template_sets_a_content_warning_per_section_and_it_counts(tmp_path: Path) -> None:
    folder = tmp_path / "mine" / "mastodon"
    folder.mkdir(parents=True)
    (folder / "post.txt.j2").write_text(
        "---\nlanguage: {{ article.language }}\n"
        'spoiler: {{ "War, casualties" if article.section == "Environment" else "" }}\n'
        'visibility: {{ "unlisted" if article.section == "Opinion" else "" }}\n'
        "---\n{{ article.title }}\n\n{{ summary }}\n\n{{ link }}\n", encoding="utf-8")
    config = parse_config(f"templates_dir: mine\nchannels: {{m: {{type: mastodon, "
                          f"api_url: '{API}'}}}}", base_dir=tmp_path)
    fmt = MastodonFormat(api_url=API)
    post = render_post(make_environment(config), _article(), channel="m",
                       cfg=config.channels["m"], fmt=fmt, zone=ZoneInfo("UTC"))

    parts = split_post(post.text)
    assert (parts.spoiler, parts.visibility, parts.problem) == ("War, casualties", "", "")
    assert fmt.measure(post.text, with_media=False).length == countable_length(
        parts.body, "War, casualties") <= 500
