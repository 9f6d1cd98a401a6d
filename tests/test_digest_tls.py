"""The digest over real TLS on 127.0.0.1: implicit TLS and STARTTLS with AUTH, certificates
checked against smtp.ca_file, and never a password or a copy sent in clear."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner
from pydantic import SecretStr

from bot.cli import cli
from bot.config import EmailChannel
from bot.digest.commands import run_digest
from bot.digest.send import SmtpUnreachableError
from bot.digest.smtp import SmtpSecurityError, connect
from bot.errors import ConfigError
from bot.store import Store
from tests import smtp_server as kit
from tests.smtp_server import (
    RUN_AT,
    RecordingHandler,
    TlsServer,
    add_article,
    add_subscribers,
    make_config,
    tls_server,
)

digest_store = kit.digest_store  # fixtures shared by the digest tests
smtps_server = kit.smtps_server
starttls_server = kit.starttls_server
cleartext_auth_server = kit.cleartext_auth_server

# aiosmtpd counts only STARTTLS as TLS when it checks AUTH, so the implicit-TLS server (and
# the cleartext one, on purpose) are built with auth_require_tls=False and it warns; these
# tests check what the server actually saw (RecordingHandler.auth_attempts) instead.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning")

#: Long enough that a retried certificate failure would blow the time limit below.
SLOW_RETRIES = (30.0,)


def _other_ca(tmp_path: Path) -> Path:
    """The PEM of a CA that did not sign the server's certificate."""
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def _assert_untouched(store: Store, handler: RecordingHandler, emails: list[str]) -> None:
    """Nothing went out, no password was offered, and nobody is marked for it."""
    assert handler.received == []
    assert handler.auth_attempts == []
    runs = store.digest_runs("digest", status="sending", limit=10)
    assert len(runs) == 1  # left open: the next run_digest resumes it
    assert store.send_states(runs[0].id) == {}
    for email in emails:
        sub = store.get_subscriber("digest", email)
        assert sub is not None and sub.status == "active" and sub.hard_bounces == 0


@pytest.mark.parametrize(("security", "fixture"), [("ssl", "smtps_server"),
                                                  ("starttls", "starttls_server")])
async def test_digest_is_delivered_over_tls_with_auth(
        tmp_path: Path, digest_store: Store, security: str, fixture: str,
        request: pytest.FixtureRequest) -> None:
    server: TlsServer = request.getfixturevalue(fixture)
    config = make_config(tmp_path, smtp=server.smtp(security))
    add_article(digest_store, 1, title="Dam talks resume")
    emails = add_subscribers(digest_store, 3)
    outcome = await run_digest(config, digest_store, "digest", RUN_AT)
    assert outcome.status == "sent" and outcome.report is not None
    assert outcome.report.sent == 3
    handler = server.handler
    assert handler.by_recipient() == dict.fromkeys(emails, 1)
    for copy in handler.received:
        assert copy.tls.startswith("TLSv1.")  # the server saw the message arrive encrypted
        assert copy.login == "digest"
        assert "Dam talks resume" in copy.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert copy.message["Subject"].startswith("Morning digest")
    # Every AUTH (one per pooled connection) reached the server over TLS.
    assert handler.auth_attempts
    assert all(login == "digest" and tls.startswith("TLSv1.")
               for login, tls in handler.auth_attempts)


@pytest.mark.parametrize("implicit", [True, False], ids=["ssl", "starttls"])
async def test_certificate_from_another_ca_stops_the_run_resumably(
        tmp_path: Path, digest_store: Store, implicit: bool) -> None:
    security = "ssl" if implicit else "starttls"
    add_article(digest_store, 1)
    emails = add_subscribers(digest_store, 3)
    with tls_server(tmp_path, implicit=implicit) as server:
        wrong = make_config(tmp_path, smtp=server.smtp(security, ca_file=_other_ca(tmp_path)))
        started = time.monotonic()
        with pytest.raises(SmtpUnreachableError) as caught:
            await run_digest(wrong, digest_store, "digest", RUN_AT, retry_delays=SLOW_RETRIES)
        assert time.monotonic() - started < 15  # reported at once, not after retries
        message = str(caught.value)
        assert f"127.0.0.1:{server.port}" in message
        assert "certificate verification failed" in message
        assert f"not signed by a CA in smtp.ca_file ({tmp_path / 'other-ca.pem'})" in message
        assert "resume" in message
        _assert_untouched(digest_store, server.handler, emails)

        # With the right CA, the same edition goes out, once to each reader.
        right = make_config(tmp_path, smtp=server.smtp(security))
        outcome = await run_digest(right, digest_store, "digest", RUN_AT)
        assert outcome.status == "sent" and outcome.note == "resumed after an interruption"
        assert server.handler.by_recipient() == dict.fromkeys(emails, 1)


async def test_certificate_for_another_host_name_is_refused(
        tmp_path: Path, digest_store: Store) -> None:
    add_article(digest_store, 1)
    emails = add_subscribers(digest_store, 2)
    # Signed by the trusted CA, but for a name that is not smtp.host (127.0.0.1).
    with tls_server(tmp_path, implicit=False, names=("relay.example.org",)) as server:
        config = make_config(tmp_path, smtp=server.smtp("starttls"))
        with pytest.raises(SmtpUnreachableError) as caught:
            await run_digest(config, digest_store, "digest", RUN_AT, retry_delays=SLOW_RETRIES)
        message = str(caught.value)
        assert f"127.0.0.1:{server.port}" in message
        assert "certificate verification failed" in message
        assert "smtp.host must be a name (or address) the relay's certificate is issued for" in (
            message)
        _assert_untouched(digest_store, server.handler, emails)


async def test_system_cas_do_not_vouch_for_a_private_ca(
        tmp_path: Path, digest_store: Store, smtps_server: TlsServer) -> None:
    """Without ca_file the relay's private CA is unknown: verification is on by default,
    and the error says which setting fixes it."""
    add_article(digest_store, 1)
    emails = add_subscribers(digest_store, 1)
    config = make_config(tmp_path, smtp=smtps_server.smtp("ssl", ca_file=None))
    with pytest.raises(SmtpUnreachableError) as caught:
        await run_digest(config, digest_store, "digest", RUN_AT, retry_delays=SLOW_RETRIES)
    assert "certificate verification failed" in str(caught.value)
    assert "set smtp.ca_file to that CA's PEM file" in str(caught.value)
    _assert_untouched(digest_store, smtps_server.handler, emails)


async def test_starttls_never_falls_back_to_plain_text(
        tmp_path: Path, digest_store: Store,
        cleartext_auth_server: tuple[RecordingHandler, int]) -> None:
    """A server (or someone in the middle) that offers no STARTTLS but would take AUTH in
    clear gets neither the password nor a copy."""
    handler, port = cleartext_auth_server
    add_article(digest_store, 1)
    emails = add_subscribers(digest_store, 2)
    smtp = (f"{{host: 127.0.0.1, port: {port}, security: starttls, username: digest, "
            "password: s3cret, timeout: 5s}")
    config = make_config(tmp_path, smtp=smtp)
    with pytest.raises(SmtpUnreachableError) as caught:
        await run_digest(config, digest_store, "digest", RUN_AT, retry_delays=SLOW_RETRIES)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "does not offer STARTTLS" in str(caught.value)
    _assert_untouched(digest_store, handler, emails)


def test_password_over_the_network_in_clear_is_refused(tmp_path: Path) -> None:
    smtp = ("{host: relay.example.org, port: 25, security: none, username: digest, "
            "password: s3cret}")
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, smtp=smtp)
    assert ("channels.digest.smtp: security: none would send the AUTH password to "
            "relay.example.org unencrypted; use security: starttls or ssl") in str(caught.value)
    # The same relay without AUTH, or AUTH to a relay on this machine, is accepted.
    make_config(tmp_path, smtp="{host: relay.example.org, port: 25, security: none}")
    for host in ("127.0.0.1", "localhost", "'::1'"):
        make_config(tmp_path, smtp=f"{{host: {host}, port: 25, security: none, "
                                   "username: digest, password: s3cret}")


async def test_connect_refuses_clear_auth_even_when_config_checks_were_skipped(
        tmp_path: Path) -> None:
    """A Smtp copied in code skips validation; connect still will not send the password."""
    cfg = make_config(tmp_path).channels["digest"]
    assert isinstance(cfg, EmailChannel)
    smtp = cfg.smtp.model_copy(update={"host": "relay.example.org", "username": "digest",
                                       "password": SecretStr("s3cret")})
    with pytest.raises(SmtpSecurityError, match="AUTH password unencrypted"):
        await connect(smtp)


def test_ca_file_with_security_none_is_refused(tmp_path: Path) -> None:
    (tmp_path / "relay-ca.pem").write_bytes(trustme.CA().cert_pem.bytes())
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, smtp="{host: 127.0.0.1, security: none, ca_file: relay-ca.pem}")
    assert "channels.digest.smtp: ca_file is set but security is none" in str(caught.value)


def test_check_shows_how_the_digest_is_protected(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "relay-ca.pem").write_bytes(trustme.CA().cert_pem.bytes())
    config = tmp_path / "config.yaml"
    config.write_text("""
sources:
  - id: en
    url: feed.xml
channels:
  digest:
    type: email
    from: digest@news.example.org
    smtp: {host: relay.internal, port: 465, security: ssl, ca_file: certs/relay-ca.pem,
           username: digest, password: "${SMTP_PASSWORD:-pw-zq83}"}
    schedule: {cron: "0 7 * * *"}
""")
    result = CliRunner().invoke(cli, ["--config", str(config), "check"])
    assert result.exit_code == 0, result.output
    assert (f"smtp: relay.internal:465, TLS (ssl), trusting {tmp_path / 'certs/relay-ca.pem'}"
            ", with AUTH") in result.output
    assert "zq83" not in result.output
