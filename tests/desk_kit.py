"""What the desk's tests share: a project folder whose config.yaml enables the desk, an
admin and an editor account, articles planned into the outbox, and a logged-in client."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from bot.config import Config, load_config
from bot.desk import auth
from bot.models import Article, FeedItem
from bot.plan import plan_article
from bot.store import Store, open_store
from bot.web.app import make_app

SECRET = "desk-test-secret-0123456789"
ADMIN_PASSWORD = "admin password 1"
EDITOR_PASSWORD = "editor password 1"
BASE = "http://testserver"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

CONFIG = """\
# The newsroom's file: comments and layout must survive the desk's schedule form.
timezone: UTC
store: sqlite:///newsbot.db
public_url: http://testserver
secret_key: {secret}
desk: {{enabled: true{desk_extra}}}
sources: [{{id: en, url: feed.xml}}]   # one source
channels:
  tg:
    type: telegram
    chat: "@news"
    token: ${{DESK_TEST_TG_TOKEN}}
    api_url: {tg_api}
    approval: required
    photo: never
    schedule: {{windows: ["00:00-24:00"]}}   # the Telegram window
  x:
    type: x
    api_key: ${{DESK_TEST_X_KEY}}
    api_secret: ${{DESK_TEST_X_SECRET}}
    access_token: ${{DESK_TEST_X_TOKEN}}
    access_secret: ${{DESK_TEST_X_TOKEN_SECRET}}
    api_url: {x_api}
    schedule:
      min_gap: 1m
"""


def write_project(folder: Path, *, tg_api: str = "http://127.0.0.1:9",
                  x_api: str = "http://127.0.0.1:9", extra: str = "",
                  desk_extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feed.xml").write_text("<rss version='2.0'><channel></channel></rss>")
    path = folder / "config.yaml"
    path.write_text(CONFIG.format(secret=SECRET, tg_api=tg_api, x_api=x_api,
                                  desk_extra=desk_extra) + extra, encoding="utf-8")
    return path


#: argon2id at its production cost takes most of a second on a busy 2-core machine; the
#: desk's tests hash and verify with the same algorithm at its smallest cost instead.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_hasher", CHEAP_HASHER)
    monkeypatch.setattr(auth, "_DUMMY_HASH", CHEAP_HASHER.hash("timing only"))


@functools.cache
def _hash(password: str) -> str:
    return CHEAP_HASHER.hash(password)


def add_accounts(store: Store) -> None:
    store.add_editor("ada", _hash(ADMIN_PASSWORD), "admin", now=NOW)
    store.add_editor("eve", _hash(EDITOR_PASSWORD), "editor", now=NOW)


def add_article(store: Store, config: Config, n: int, *, now: datetime = NOW,
                title: str = "", summary: str = "A summary sentence.") -> Article:
    article, _ = store.add_article(FeedItem(
        source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}",
        title=title or f"Title {n}", summary=summary, published=now), now=now)
    store.create_deliveries(article.id, plan_article(article, config, now=now), now=now)
    return article


def open_project(path: Path) -> tuple[Config, Store]:
    config = load_config(path)
    return config, open_store(config.store_url)


def client(config: Config, store: Store, path: Path, **kwargs: object) -> TestClient:
    return TestClient(make_app(config, store, config_path=path), base_url=BASE,
                      follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def log_in(c: TestClient, name: str = "ada", password: str = ADMIN_PASSWORD) -> None:
    response = c.post("/desk/login", data={"name": name, "password": password,
                                           "next": "/desk/"},
                      headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 303, response.text


def csrf(c: TestClient, page: str = "/desk/") -> str:
    import re

    match = re.search(r'name="csrf" value="([^"]+)"', c.get(page).text)
    assert match, "no form token on the page"
    return match[1]


SAME = {"Sec-Fetch-Site": "same-origin"}


# ------------------------------------------------------------------ a served desk, a browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


class LiveServer:
    """The bot's web app served by uvicorn on 127.0.0.1 in a thread, for a real browser."""

    def __init__(self, app: object) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port,  # type: ignore[arg-type]
                                log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="desk-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "the desk's server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def chromium_or_skip() -> None:
    """Browser tests need Playwright (the test extra) and Debian's chromium; without them
    they skip, except under CI, where a missing browser is a failure (.ci/run installs it)."""
    import importlib.util
    import os

    problem = ""
    if importlib.util.find_spec("playwright") is None:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    elif not CHROMIUM.exists():
        problem = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if not problem:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run under CI: {problem}")
    pytest.skip(problem)
