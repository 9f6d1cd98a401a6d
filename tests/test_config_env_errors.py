"""Errors about values from the environment name the ``${VAR}``, never its value, and a
required value whose variable is unset says which variable and where."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import parse_config
from bot.errors import ConfigError

SECRET = "7412369850:AAF-n0t-a-r3al-t0ken_but-l0ng-enough"
CONFIG = """
timezone: UTC
sources: [{id: en, url: feed.xml}]
channels:
  tg:
    type: telegram
    token: ${TELEGRAM_BOT_TOKEN}
    chat: CHAT
    timeout: TIMEOUT
"""


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return str(caught.value)


def test_a_secret_under_the_wrong_key_is_named_by_its_variable_not_shown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", SECRET)
    message = problems(CONFIG.replace("CHAT", '"@c"')
                       .replace("TIMEOUT", "${TELEGRAM_BOT_TOKEN}"))
    assert SECRET not in message and "AAF-n0t" not in message
    assert "channels.tg.timeout: '${TELEGRAM_BOT_TOKEN}' is not a duration" in message


def test_check_never_prints_a_misplaced_secret(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", SECRET)
    monkeypatch.setenv("SHORT", "x1")  # a short value is hidden from its own key's message
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.replace("CHAT", '"@c"').replace("TIMEOUT", "${SHORT}")
                    + "dispatch_every: ${TELEGRAM_BOT_TOKEN}\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code != 0
    assert SECRET not in result.output and "'x1'" not in result.output
    assert "dispatch_every: '${TELEGRAM_BOT_TOKEN}' is not a duration" in result.output
    assert "channels.tg.timeout: '${SHORT}' is not a duration" in result.output


def test_an_unset_variable_in_a_required_field_is_named_with_its_key() -> None:
    message = problems(CONFIG.replace("CHAT", "${TG_CHAT}").replace("TIMEOUT", "20s"))
    assert "channels.tg.chat: ${TG_CHAT} is not set in the environment" in message
    assert "valid string" not in message and "chat.str" not in message
    assert "1 problem(s)" in message  # one cause, said once


def test_an_unset_variable_in_a_list_names_the_entry() -> None:
    message = problems("timezone: UTC\nsources: [{id: en, url: '${FEED_URL}'}]\n")
    assert "sources[0] (en).url: ${FEED_URL} is not set in the environment" in message
