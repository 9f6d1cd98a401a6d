"""End to end: `newsbot once` on the bundled samples posts to a local X API, exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.fakes.x_api import ENV, FakeXApi


def _point_x_at(project: Path, x_api: FakeXApi) -> Path:
    config = project / "config.yaml"
    text = config.read_text(encoding="utf-8")
    block = re.search(r"\n  x-en:\n(?:    .*\n)+", text)
    assert block, "the sample config has an x-en channel"
    x_en = re.sub(r"api_url: \S+", f"api_url: {x_api.base_url}", block[0])
    # Post every due article in one run: the sample's 30-minute gap would allow only one.
    x_en = re.sub(r"schedule: \{[^}]*\}", "schedule: {}", x_en)
    config.write_text(text.replace(block[0], x_en), encoding="utf-8")
    return config


def _once(config: Path) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), "once"], env=ENV)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_once_posts_each_article_once_and_a_second_run_posts_nothing(
    project: Path, x_api: FakeXApi
) -> None:
    config = _point_x_at(project, x_api)

    _once(config)
    first = [t.text for t in x_api.tweets]
    _once(config)

    assert len(first) == 6
    assert len(set(first)) == 6
    assert all("https://news.example.org/" in text for text in first)
    assert [t.text for t in x_api.tweets] == first
    assert [s.path for s in x_api.seen].count("/2/tweets") == 6  # no retry, no duplicate
