"""What every command shares: the lazily loaded config, the store, logging and error output.

The bottom of the CLI package: every other ``bot.cli`` module imports from here, and this
module imports nothing heavy at module level, so ``newsbot --help`` loads neither pydantic
nor SQLAlchemy. Heavy modules are imported inside the function that needs them.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot.errors import NewsbotError

if TYPE_CHECKING:
    from bot.config import Config
    from bot.store import Store
    from bot.store.light import LightStore

F = TypeVar("F", bound=Callable[..., Any])
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(verbose: bool = False, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        from bot.logjson import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # httpx logs every request URL at INFO, and a Telegram URL contains the bot token.
    # APScheduler announces every job it adds or runs at INFO: routine, not news.
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    from bot.redact import install_redaction

    install_redaction()


def friendly_errors(func: F) -> F:
    """Turn newsbot's own errors into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NewsbotError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (LookupError, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


class Context:
    """What every command needs: the config path, loaded lazily."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from bot.config import load_config
            from bot.redact import install_redaction

            self._config = load_config(self.config_path)
            install_redaction(*[v for v in _secret_values(self._config) if v])
        return self._config

    def store(self) -> Store:
        from bot.settings import RuntimeSettings
        from bot.store import open_store

        # NEWSBOT_SQLITE_BUSY_TIMEOUT: how long a command waits behind the bot's write lock.
        wait = RuntimeSettings.from_environ().sqlite_busy_timeout
        return open_store(self.config.store_url, busy_timeout=wait)

    def cycle_store(self) -> LightStore | Store:
        """The store for a command that may find nothing to do (``newsbot once``) or only reads
        (``newsbot queue``): on SQLite it opens the full store (and loads SQLAlchemy) only
        when a call needs it (bot/store/light.py)."""
        from bot.settings import RuntimeSettings
        from bot.store.light import open_cycle_store

        wait = RuntimeSettings.from_environ().sqlite_busy_timeout
        return open_cycle_store(self.config.store_url, busy_timeout=wait)


def _secret_values(config: Config) -> list[str]:
    from pydantic import SecretStr

    values: list[str] = []
    for cfg in config.channels.values():
        for field_name in type(cfg).model_fields:
            value = getattr(cfg, field_name)
            if isinstance(value, SecretStr):
                values.append(value.get_secret_value())
        smtp = getattr(cfg, "smtp", None)
        if smtp is not None and smtp.password is not None:
            values.append(smtp.password.get_secret_value())
    if config.secret_key is not None:
        values.append(config.secret_key.get_secret_value())
    if config.desk.telegram is not None and config.desk.telegram.token is not None:
        values.append(config.desk.telegram.token.get_secret_value())
    return values


pass_ctx = click.make_pass_decorator(Context)
