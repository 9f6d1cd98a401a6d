"""config.yaml: errors name the YAML path and what to do; secrets only from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import load_config, parse_config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
sources:
  - id: en
    url: feed.xml
channels:
  tg:
    type: telegram
    token: ${TELEGRAM_BOT_TOKEN}
    chat: "@c"
"""


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return str(caught.value)


def test_bundled_config_is_valid() -> None:
    config = load_config(ROOT / "config.yaml")
    assert {s.id for s in config.sources} == {"iraq-en", "iraq-ar", "world"}
    assert config.channels["x-en"].type == "x"


def test_typo_in_a_key_is_an_error_with_a_suggestion() -> None:
    message = problems(MINIMAL.replace("url: feed.xml", "url: feed.xml\n    evry: 5m"))
    assert "sources[0] (en).evry: unknown key; did you mean 'every'?" in message


def test_bad_duration_names_the_path_and_the_fix() -> None:
    message = problems(MINIMAL.replace("url: feed.xml", "url: feed.xml\n    every: 5 minutes"))
    assert "sources[0] (en).every" in message
    assert "write it like 30s, 5m, 2h or 1d" in message


def test_cap_below_one_is_refused_with_the_channel_path() -> None:
    text = MINIMAL + "    schedule: {max_per_day: 0}\n"
    assert "channels.tg.schedule.max_per_day: must be at least 1" in problems(text)


def test_unknown_channel_type_is_refused() -> None:
    assert "channels.tg" in problems(MINIMAL.replace("type: telegram", "type: telegrm"))


def test_route_to_a_missing_source_is_refused() -> None:
    text = MINIMAL + "    route: {sources: [english]}\n"
    assert "channels.tg.route.sources: no source has id 'english'; the sources are: en" in problems(
        text)
    assert "did you mean 'en'?" in problems(MINIMAL + "    route: {sources: [enn]}\n")


def test_email_channel_without_cron_is_refused() -> None:
    text = MINIMAL + "  digest:\n    type: email\n    from: a@b.org\n"
    assert "channels.digest.schedule.cron" in problems(text)


def test_email_address_without_an_address_is_refused_with_its_path() -> None:
    text = (MINIMAL + "  digest:\n    type: email\n    from: a@b.org\n"
            "    unsubscribe_address: unsubscribe\n    schedule: {cron: '0 7 * * *'}\n")
    message = problems(text)
    assert "channels.digest.unsubscribe_address" in message
    assert "has no email address in it" in message
    assert "channels.digest.from" in problems(text.replace("from: a@b.org", "from: Newsroom"))


def test_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCdef")
    config = parse_config(MINIMAL)
    token = config.channels["tg"].token  # type: ignore[union-attr]
    assert token is not None and token.get_secret_value() == "123456:ABCdef"
    assert "ABCdef" not in repr(config)
    assert config.missing_credentials("tg") == ()


def test_unset_secret_means_preview_and_names_the_variable() -> None:
    config = parse_config(MINIMAL)
    assert config.missing_credentials("tg") == ("TELEGRAM_BOT_TOKEN",)


def test_windows_accept_weekday_variants() -> None:
    text = MINIMAL + ('    schedule: {windows: {mon-fri: ["07:00-12:00", "14:00-23:30"], '
                      'sat: "10:00-14:00"}}\n')
    windows = parse_config(text).channels["tg"].schedule.windows
    assert len(windows) == 3
    assert windows[2].days == frozenset({5})
    assert parse_config(MINIMAL + "    schedule: {min_gap: 1h30m}\n").channels[
        "tg"].schedule.min_gap == timedelta(minutes=90)


def test_check_reports_missing_secret_without_printing_any_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(MINIMAL + "  x:\n    type: x\n    api_key: ${X_API_KEY}\n"
                      "    api_secret: ${X_API_SECRET}\n    access_token: ${X_ACCESS_TOKEN}\n"
                      "    access_secret: ${X_ACCESS_SECRET}\n")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "987654:tokvalue-zq81")
    monkeypatch.setenv("X_API_KEY", "xkey-value-zq82")
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 0, result.output
    assert "zq81" not in result.output and "zq82" not in result.output
    assert "set X_ACCESS_SECRET, X_ACCESS_TOKEN, X_API_SECRET;" in result.output
    assert "`newsbot run` holds them" in result.output
    assert "tg (telegram)" in result.output and "[live]" in result.output


def test_check_exits_non_zero_on_a_bad_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(MINIMAL.replace("chat:", "chatt:"))
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 2
    assert "channels.tg.chatt: unknown key; did you mean 'chat'?" in result.output


@pytest.mark.parametrize(("web", "expected"), [
    ("{subscribe_limit: {per_client: 0}}", "web.subscribe_limit.per_client: must be at least 1"),
    ("{subscribe_limit: {confirm_cooldown: 0s}}",
     "web.subscribe_limit.confirm_cooldown: must be longer than 0s"),
    ("{trusted_proxies: [proxy.internal]}",
     "web.trusted_proxies: 'proxy.internal' is not an IP address or network"),
])
def test_bad_subscribe_limit_or_proxy_names_the_web_path(web: str, expected: str) -> None:
    assert expected in problems(MINIMAL + f"web: {web}\n")


DIGEST = MINIMAL + """  digest:
    type: email
    from: digest@news.example.org
    smtp: {host: relay.internal, port: 465, security: ssl, ca_file: CA_FILE}
    schedule: {cron: "0 7 * * *"}
"""


def _config_with_ca_file(tmp_path: Path, ca_file: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(DIGEST.replace("CA_FILE", ca_file))
    return path


def test_smtp_ca_file_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    import trustme

    (tmp_path / "certs").mkdir()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "certs" / "relay-ca.pem"))
    config = load_config(_config_with_ca_file(tmp_path, "certs/relay-ca.pem"))
    smtp = config.channels["digest"].smtp  # type: ignore[union-attr]
    assert smtp.ca_file == str(tmp_path / "certs" / "relay-ca.pem")


def test_missing_smtp_ca_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config_with_ca_file(tmp_path, "certs/relay-ca.pem"))
    assert (f"channels.digest.smtp.ca_file: {tmp_path / 'certs' / 'relay-ca.pem'}: no such "
            "file; give the PEM file of the CA that signed the relay's certificate") in str(
        caught.value)


def test_smtp_ca_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "relay-ca.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError) as caught:
        load_config(_config_with_ca_file(tmp_path, "relay-ca.pem"))
    assert "channels.digest.smtp.ca_file:" in str(caught.value)
    assert "relay-ca.pem holds no PEM certificate" in str(caught.value)
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_config(_config_with_ca_file(tmp_path, "a-folder"))
    assert "channels.digest.smtp.ca_file:" in str(caught.value)
    assert "a-folder: cannot read it (Is a directory)" in str(caught.value)
