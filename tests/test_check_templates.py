"""`newsbot check` renders every channel's template against a sample article, so a template
mistake is reported (template, line, variable) before it fails every post."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from bot.cli import cli


def check(project: Path) -> Result:
    return CliRunner().invoke(cli, ["--config", str(project / "config.yaml"), "check"])


def override(project: Path, relative: str, text: str) -> Path:
    path = project / "mytemplates" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    config = project / "config.yaml"
    config.write_text(config.read_text().replace(
        "preview_dir: preview\n", "preview_dir: preview\ntemplates_dir: mytemplates\n"))
    return path


def test_an_undefined_variable_in_an_override_fails_check_naming_template_line_variable(
        project: Path) -> None:
    path = override(project, "x/post.txt.j2", "{{ article.title }}\n{{ article.subtitle }}\n")
    result = check(project)
    assert result.exit_code == 1
    assert "config OK" not in result.output
    assert f"✗ x-en: {path}" in result.output
    assert "template 'x/post.txt.j2', line 2" in result.output
    assert "'subtitle'" in result.output
    assert "✓ telegram-en:" in result.output  # the others render


def test_check_names_the_files_each_channel_uses(project: Path) -> None:
    path = override(project, "telegram/post.html.j2", "<b>{{ article.title }}</b>\n{{ link }}")
    result = check(project)
    assert result.exit_code == 0, result.output
    assert f"✓ telegram-en: {path}" in result.output
    assert "✓ x-en: " in result.output and "templates/x/post.txt.j2" in result.output
    assert "digest.html.j2" in result.output and "digest.txt.j2" in result.output


def test_a_broken_digest_template_fails_check(project: Path) -> None:
    override(project, "email/digest.txt.j2", "{% for g in groups %}{{ g.nosuch }}{% endfor %}")
    result = check(project)
    assert result.exit_code == 1
    assert "✗ morning-digest:" in result.output and "nosuch" in result.output
