"""`newsbot preview` shows only the channels whose route takes the article, and the digest's
entry too."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli


def preview(project: Path, *args: str) -> str:
    page = project / "examples" / "pages" / "iraq-back-to-back-raids.html"
    result = CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "preview",
                                      str(page), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_preview_shows_only_the_channels_that_take_the_article(project: Path) -> None:
    output = preview(project, "--source", "iraq-ar")
    assert "── telegram-ar (telegram)" in output
    assert "── telegram-en" not in output and "── x-en" not in output
    assert "not routed to: telegram-en, x-en" in output


def test_preview_includes_the_digest_entry(project: Path) -> None:
    output = preview(project, "--source", "iraq-en")
    assert "── telegram-en (telegram)" in output and "── x-en (x)" in output
    digest = output.split("── morning-digest (email digest entry", 1)[1]
    assert "Iraqi forces stage back-to-back raids on ISIS" in digest
    assert "Iraqi forces are conducting consecutive offensives" in digest


def test_an_unknown_source_is_an_error(project: Path) -> None:
    page = project / "examples" / "pages" / "iraq-back-to-back-raids.html"
    result = CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "preview",
                                      str(page), "--source", "nosuch"])
    assert result.exit_code == 2 and "no source has id 'nosuch'" in result.output


def test_without_a_source_routes_are_matched_on_the_rest(project: Path) -> None:
    output = preview(project)
    assert "source: unknown" in output and "--source ID" in output
    assert "── telegram-en (telegram)" in output and "── telegram-ar (telegram)" in output
