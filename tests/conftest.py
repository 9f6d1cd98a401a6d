"""Shared fixtures: the store on SQLite and PostgreSQL, a project copy to run the CLI in.

PostgreSQL tests run against the machine's server (127.0.0.1:5432, database ``test``), each
test in its own schema. Under CI=true an unreachable server is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("NEWSBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

pytest_plugins = [
    name for name in ("tests.feed_server", "tests.fakes.telegram_api", "tests.fakes.x_api",
                      "tests.smtp_server")
    if importlib.util.find_spec(name) is not None
]


def _pg_dsn() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(_pg_dsn(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any reason at all: report it
        return f"{type(exc).__name__}: {str(exc).strip()[:200]}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A base URL for PostgreSQL tests; fails under CI when the server is unreachable."""
    problem = pg_available()
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable under CI: {problem}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable ({problem}); "
                    "start it or set NEWSBOT_TEST_PG to run these tests")
    yield PG_URL


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A store URL whose tables live in a fresh schema, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(_pg_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'newsbot.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'newsbot.db'}")
    yield opened
    opened.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the repo's config.yaml and examples/ in a temp dir, as a user would have."""
    target = tmp_path / "project"
    target.mkdir()
    shutil.copy(ROOT / "config.yaml", target / "config.yaml")
    shutil.copytree(ROOT / "examples", target / "examples")
    return target


@pytest.fixture(autouse=True)
def _no_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a developer's real credentials."""
    for var in ("TELEGRAM_BOT_TOKEN", "X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN",
                "X_ACCESS_SECRET", "SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "SMTP_PORT",
                "NEWSBOT_SECRET_KEY", "NEWSBOT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
