"""The README's first command: `newsbot once` on the bundled samples, with no credentials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import load_config
from bot.models import DeliveryStatus
from bot.store import open_store

FURNITURE = ("Do you like this article?", "Comment(s)", "Comment Policy", "Denotes Required Field")


def once(project: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "once", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_first_run_previews_every_article_on_every_channel(project: Path) -> None:
    output = once(project)
    assert "PREVIEW MODE" in output
    assert "TELEGRAM_BOT_TOKEN not set" in output
    previews = project / "preview"
    assert len(list((previews / "telegram-en").iterdir())) == 9
    assert len(list((previews / "telegram-ar").iterdir())) == 4
    assert len(list((previews / "x-en").iterdir())) == 6
    assert "digest morning-digest: the next round-up has 13 articles" in output
    (eml,) = (previews / "morning-digest").glob("*.eml")
    assert "Iraqi forces stage back-to-back raids on ISIS" in eml.read_bytes().decode(
        "utf-8", "replace") or "back-to-back" in (eml.with_suffix(".html")).read_text()


def test_second_run_announces_nothing_new(project: Path) -> None:
    once(project)
    posts = ("telegram-en", "telegram-ar", "x-en")  # the digest preview is rewritten each run
    before = {p: p.stat().st_mtime_ns for c in posts for p in (project / "preview" / c).iterdir()}
    output = once(project)
    assert "nothing was due" in output
    after = {p: p.stat().st_mtime_ns for c in posts for p in (project / "preview" / c).iterdir()}
    assert before == after


def test_the_corpus_article_post_starts_with_its_lede_and_has_no_furniture(project: Path) -> None:
    once(project)
    (post,) = (project / "preview" / "telegram-en").glob("*back-to-back-raids*")
    text = post.read_text(encoding="utf-8")
    body = text.split("</b>", 1)[1].strip()
    assert body.startswith("Iraqi forces are conducting consecutive offensives")
    for furniture in FURNITURE:
        assert furniture not in text


def test_dry_run_previews_but_consumes_nothing(project: Path) -> None:
    output = once(project, "--dry-run")
    assert "--dry-run was given" in output
    config = load_config(project / "config.yaml")
    store = open_store(config.store_url)
    try:
        statuses = {d.status for d in store.deliveries()}
    finally:
        store.close()
    assert statuses == {DeliveryStatus.PENDING}


def test_a_broken_source_is_reported_and_the_others_still_run(project: Path) -> None:
    config = project / "config.yaml"
    (project / "examples" / "feeds" / "broken.xml").write_text(
        "<html><head><title>Oops</title></head><body><p>Page not found</p></body></html>")
    text = config.read_text().replace("sources:\n", "sources:\n  - id: broken\n"
                                      "    url: examples/feeds/broken.xml\n", 1)
    config.write_text(text)
    result = CliRunner().invoke(cli, ["--config", str(config), "once"])
    assert result.exit_code == 1  # something failed: scripts can tell
    assert "source broken:" in result.output
    assert "source iraq-en: 6 new" in result.output
    status = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert "broken" in status.output and "FAILING (1 in a row)" in status.output


@pytest.mark.skipif(os.name != "posix", reason="uses a subprocess with a POSIX venv layout")
def test_python_dash_m_bot_works(project: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "bot", "--config",
                             str(project / "config.yaml"), "check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "config OK" in result.stdout


def test_once_is_refused_while_another_process_works_the_sqlite_store(project: Path) -> None:
    from bot.runlock import hold_run_lock

    config = load_config(project / "config.yaml")
    with hold_run_lock(config.store_url, command="run"):
        result = CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "once"])
    assert result.exit_code == 2
    assert "is already in use by newsbot run" in result.output
    assert not (project / "preview").exists()  # nothing was done
