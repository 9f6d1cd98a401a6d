"""Test copies and unsafe defaults: a test copy's unsubscribe link says it is a test, an
empty digest is not sent as a test without --allow-empty, `check` warns about a public_url
no reader can reach, and the missing-secret error names NEWSBOT_SECRET_KEY."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.store import open_store
from tests import smtp_server as kit
from tests.kit import digest_yaml, newsbot
from tests.smtp_server import SECRET, RecordingHandler, add_article

smtp_server = kit.smtp_server


def write(tmp_path: Path, port: int, *, public_url: str = "https://news.example.org/bot",
          secret: str = SECRET, host: str = "127.0.0.1") -> Path:
    smtp = f'{{host: "{host}", port: {port}, security: none}}'
    (tmp_path / "config.yaml").write_text(digest_yaml(smtp, secret=secret, public_url=public_url),
                                          encoding="utf-8")
    return tmp_path


def with_article(project: Path) -> None:
    with open_store(load_config(project / "config.yaml").store_url) as store:
        add_article(store, 1)


@pytest.fixture
def server(smtp_server: tuple[RecordingHandler, int]) -> tuple[RecordingHandler, int]:
    return smtp_server


def test_a_test_copys_unsubscribe_link_says_it_is_a_test(
        tmp_path: Path, server: tuple[RecordingHandler, int]) -> None:
    handler, port = server
    project = write(tmp_path, port)
    with_article(project)
    result = newsbot(project, "digest", "send", "digest", "--to", "editor@example.com")
    assert result.exit_code == 0, result.output
    (mail,) = handler.received
    assert "TEST-COPY-this-link-unsubscribes-nobody" in mail.message["List-Unsubscribe"]
    text = mail.message.get_body(("plain",))
    assert text is not None
    assert "unsubscribe/TEST-COPY-this-link-unsubscribes-nobody" in text.get_content()


def test_the_test_copy_link_says_so_when_opened(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from bot.web.app import make_app

    config = load_config(write(tmp_path, 2525) / "config.yaml")
    with open_store(config.store_url) as store:
        client = TestClient(make_app(config, store))
        for method in (client.get, client.post):
            page = method("/unsubscribe/TEST-COPY-this-link-unsubscribes-nobody")
            assert page.status_code == 200
            assert "it unsubscribes nobody" in page.text


def test_an_empty_digest_is_not_sent_as_a_test_without_allow_empty(
        tmp_path: Path, server: tuple[RecordingHandler, int]) -> None:
    handler, port = server
    project = write(tmp_path, port)
    refused = newsbot(project, "digest", "send", "digest", "--to", "editor@example.com")
    assert refused.exit_code == 2
    assert "has no articles yet" in refused.output and "--allow-empty" in refused.output
    assert handler.received == []
    sent = newsbot(project, "digest", "send", "digest", "--to", "editor@example.com",
                   "--allow-empty")
    assert sent.exit_code == 0, sent.output
    assert len(handler.received) == 1


@pytest.mark.parametrize("url", ["http://news.example.org/bot", "https://127.0.0.1:8080",
                                 "https://localhost/bot"])
def test_check_warns_when_links_of_a_live_digest_would_point_nowhere(
        tmp_path: Path, url: str) -> None:
    result = newsbot(write(tmp_path, 2525, public_url=url), "check")
    assert f"WARNING: public_url {url}" in result.output
    assert "digest sends live" in result.output


def test_no_warning_for_https_or_for_a_digest_in_preview(tmp_path: Path) -> None:
    assert "WARNING" not in newsbot(write(tmp_path, 2525), "check").output
    preview = write(tmp_path, 2525, public_url="http://127.0.0.1:8080", host="${SMTP_HOST}")
    assert "WARNING" not in newsbot(preview, "check").output


def test_the_missing_secret_error_names_newsbot_secret_key(
        tmp_path: Path, server: tuple[RecordingHandler, int]) -> None:
    _, port = server
    project = write(tmp_path, port, secret="")
    with_article(project)
    result = newsbot(project, "digest", "send", "digest", "--to", "editor@example.com")
    assert result.exit_code == 2
    assert "${NEWSBOT_SECRET_KEY}" in result.output
    assert "export NEWSBOT_SECRET_KEY" in result.output
