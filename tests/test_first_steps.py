"""A new user's next steps after the quick start, on the bundled config.yaml with no
credentials: what the README and the first run's output point to must work as they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kit import newsbot


def test_digest_preview_works_without_a_secret_key_as_the_first_run_suggests(
        project: Path) -> None:
    first = newsbot(project, "once")
    assert "`newsbot digest preview CHANNEL` shows the next one" in first.output
    result = newsbot(project, "digest", "preview", "morning-digest")
    assert result.exit_code == 0, result.output
    assert "morning-digest: 13 articles" in result.output
    (eml,) = (project / "preview").glob("morning-digest-*.eml")
    assert b"unsubscribes-nobody" in eml.read_bytes()  # a preview's link unsubscribes no one


def test_a_sample_article_link_previews_from_the_bundled_pages(project: Path) -> None:
    result = newsbot(project, "preview",
                     "https://news.example.org/en/2026/11/iraq-back-to-back-raids",
                     "--source", "iraq-en")
    assert result.exit_code == 0, result.output
    assert "── telegram-en (telegram)" in result.output
    assert "Iraqi forces are conducting consecutive offensives" in result.output


def test_queue_and_plan_name_the_channels_when_one_is_misspelt(project: Path) -> None:
    for command in ("queue", "plan"):
        result = newsbot(project, command, "--channel", "telegram-fr")
        assert result.exit_code == 2, (command, result.output)
        assert "no channel is named 'telegram-fr'" in result.output
        assert "telegram-en" in result.output


def test_digest_runs_says_when_there_are_none_yet(project: Path) -> None:
    result = newsbot(project, "digest", "runs", "morning-digest")
    assert result.exit_code == 0, result.output
    assert "morning-digest: no runs yet" in result.output


def test_check_says_what_run_and_once_do_with_a_channel_without_credentials(
        project: Path) -> None:
    result = newsbot(project, "check")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("  x-en (x)"))
    assert "set X_ACCESS_SECRET, X_ACCESS_TOKEN, X_API_KEY, X_API_SECRET" in line
    assert "`newsbot once` previews its posts and `newsbot run` holds them" in line


def test_check_does_not_call_a_channel_in_preview_live(project: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = project / "config.yaml"
    config.write_text(config.read_text().replace(
        "    monthly_budget: 50\n", "    monthly_budget: 50\n    preview: true\n"))
    for name in ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_SECRET"):
        monkeypatch.setenv(name, "set-for-the-test")
    result = newsbot(project, "check")
    line = next(x for x in result.output.splitlines() if x.startswith("  x-en (x)"))
    assert "[preview: true: posts are written to the preview folder, never sent]" in line


def test_check_warns_when_a_live_digest_has_no_secret_key(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "smtp.example.org")
    result = newsbot(project, "check")
    assert result.exit_code == 0, result.output
    assert ("WARNING: the digest morning-digest sends live, but secret_key is not set: its runs "
            "will fail") in result.output
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", "a-long-enough-secret-key")
    assert "secret_key is" not in newsbot(project, "check").output


def test_once_sends_a_broken_template_to_check_not_to_failed_history(project: Path) -> None:
    override = project / "tpl" / "telegram"
    override.mkdir(parents=True)
    (override / "post.html.j2").write_text("<b>{{ article.titel }}</b>\n{{ link }}\n")
    config = project / "config.yaml"
    config.write_text(config.read_text() + "templates_dir: tpl\n")
    result = newsbot(project, "once")
    assert result.exit_code == 1  # scripts still notice
    assert "13 posts wait for a template to be fixed" in result.output
    assert "`newsbot check` names the template" in result.output
    assert "`newsbot history --status failed`" not in result.output
    assert "no failed deliveries" in newsbot(project, "history", "--status", "failed").output
