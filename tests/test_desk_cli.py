"""`newsbot editors add/list/passwd/remove`: accounts for the desk, passwords never echoed,
never stored in clear, and a password change ends the account's sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import load_config
from bot.store import open_store
from tests import desk_kit as kit
from tests.desk_kit import cheap_argon2  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("cheap_argon2")


def test_editors_add_list_passwd_remove(tmp_path: Path) -> None:
    path = kit.write_project(tmp_path / "project")
    runner = CliRunner()
    args = ["--config", str(path), "editors"]
    result = runner.invoke(cli, [*args, "add", "ada", "--role", "admin"],
                           input="a long password\n")
    assert result.exit_code == 0, result.output
    assert "editor ada (admin) added; log in at http://testserver/desk/" in result.output
    result = runner.invoke(cli, [*args, "add", "ada"], input="another password\n")
    assert result.exit_code == 2 and "exists already" in result.output
    result = runner.invoke(cli, [*args, "add", "bob"], input="short\n")
    assert result.exit_code == 2 and "at least 10 characters" in result.output
    result = runner.invoke(cli, [*args, "list"])
    assert "ada" in result.output and "admin" in result.output
    assert "a long password" not in result.output and "argon2" not in result.output
    with open_store(load_config(path).store_url) as store:
        account = store.get_editor("ada")
        assert account is not None
        assert account.password_hash.startswith("$argon2id$")
        version = account.session_version
    result = runner.invoke(cli, [*args, "passwd", "ada"], input="a new long password\n")
    assert result.exit_code == 0, result.output
    with open_store(load_config(path).store_url) as store:
        account = store.get_editor("ada")
        assert account is not None and account.session_version == version + 1
    result = runner.invoke(cli, [*args, "remove", "ada"])
    assert result.exit_code == 0
    result = runner.invoke(cli, [*args, "remove", "ada"])
    assert result.exit_code == 2 and "no editor is named 'ada'" in result.output


def test_newsbot_check_shows_the_desk_and_each_channels_approval_rule(tmp_path: Path) -> None:
    path = kit.write_project(tmp_path / "project")
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 0, result.output
    assert "desk: http://testserver/desk/  [on]" in result.output
    assert "approval: required" in result.output
    assert kit.SECRET not in result.output
