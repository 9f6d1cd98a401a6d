"""Hot reload: config.yaml and the editors' templates take effect without a restart.

The running Service checks the files' modification times every few seconds (and reloads at
once on SIGHUP). A new configuration is validated first (the YAML, every channel's template,
a store that cannot change while running); only then are channels, dispatcher and jobs
swapped. Validation runs in a thread of its own with a time limit (``VALIDATE_LIMIT``), so
the event loop keeps posting, answering /healthz and handling SIGTERM while a large or hostile
file is judged; bot/config/bounded_yaml.py refuses a YAML alias bomb before it costs anything.
An edit that does not validate changes nothing: the bot keeps posting with the
configuration it has, logs the error with its YAML path, and records it beside config.yaml
(``.newsbot-reload.json``) so ``newsbot status`` can say so. A channel removed from the file
gets no new deliveries; its pending ones stay in the store and are reported, never deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from bot.config import Config, load_config, parse_config, read_config_text
from bot.errors import ConfigError

log = logging.getLogger("newsbot.reload")
CHECK_EVERY = timedelta(seconds=3)
#: Judging config.yaml takes milliseconds; a file that takes this long is refused.
VALIDATE_LIMIT = timedelta(seconds=10)
T = TypeVar("T")
STATE_FILE = ".newsbot-reload.json"


# ------------------------------------------------------------------ what status shows


@dataclass(frozen=True)
class ReloadState:
    """The last reload decision of the bot running on this config folder."""

    ok: bool
    at: str  # ISO time, UTC
    worker: str
    message: str  # the error (with its YAML path) when not ok
    judged_sha: str  # sha256 of the file text that was judged
    config_file: str  # the file that was judged
    good_text: str  # the configuration the bot is running with


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def state_path(base_dir: Path) -> Path:
    return base_dir / STATE_FILE


def read_state(base_dir: Path) -> ReloadState | None:
    try:
        data = json.loads(state_path(base_dir).read_text(encoding="utf-8"))
        return ReloadState(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_state(base_dir: Path, state: ReloadState) -> None:
    path = state_path(base_dir)
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(state), out, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError as exc:  # status loses a line; the bot itself is unaffected
        log.warning("cannot record the reload outcome in %s: %s", path, exc.strerror)


def rejected_reload(base_dir: Path) -> str:
    """A line for ``newsbot status`` when the bot running on this folder's config file
    refused the file as it is now ("" when there is nothing to say)."""
    state = read_state(base_dir)
    if state is None or state.ok:
        return ""
    try:
        current = Path(state.config_file).read_text(encoding="utf-8")
    except OSError:
        return ""
    if _sha(current) != state.judged_sha:
        return ""  # edited since: the bot judges the new text within seconds
    return (f"config.yaml edit REJECTED at {state.at[:19].replace('T', ' ')} UTC by "
            f"{state.worker}; the bot keeps running with its previous configuration:\n"
            f"  {state.message}")


def config_for_status(config_file: Path) -> tuple[Config, str]:
    """The configuration to describe in ``newsbot status`` and the rejection line: when the
    file does not validate but a running bot kept its last good one, that one."""
    try:
        config = load_config(config_file)
        return config, rejected_reload(config.base_dir)
    except ConfigError:
        base_dir = config_file.resolve().parent
        state = read_state(base_dir)
        if state is None or state.ok or not state.good_text:
            raise
        good = parse_config(state.good_text, base_dir=base_dir, origin=str(config_file))
        return good, rejected_reload(base_dir)


# ------------------------------------------------------------------ validation


def check_templates(config: Config) -> None:
    """Every enabled post channel's template exists and compiles; else ConfigError."""
    # Jinja and the renderer load here, not with the module: `newsbot status` reads this
    # module's state file and must stay quick.
    import jinja2

    from bot.channels.registry import is_platform
    from bot.render import default_template, make_environment

    env = make_environment(config)
    for name, cfg in config.channels.items():
        if not cfg.enabled or not is_platform(cfg):
            continue
        template = cfg.template or default_template(cfg)
        try:
            env.get_template(template)
        except jinja2.TemplateNotFound:
            raise ConfigError(f"channels.{name}.template",
                              f"{template!r} not found in the templates folders") from None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"channels.{name}.template",
                              f"{template!r}, line {exc.lineno}: {exc.message}") from None


def validate(text: str, *, running: Config, origin: str) -> Config:
    """The new configuration, or ConfigError saying what is wrong where."""
    config = parse_config(text, base_dir=running.base_dir, origin=origin)
    if config.store_url != running.store_url:
        raise ConfigError("store", "changing the store needs a restart (the running bot keeps "
                                   "using the store it opened)")
    check_templates(config)
    return config


async def off_loop(work: Callable[[], T], *, limit: timedelta, what: str) -> T:
    """``work()`` run in a daemon thread; its result, or TimeoutError after ``limit``.

    A daemon thread rather than the loop's executor: a stopping bot neither waits for a
    judgement it no longer needs nor is kept alive by it at exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # timed out, or the bot is stopping
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as exc:  # handed to the awaiting task as it is
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits now
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=what, daemon=True).start()
    return await asyncio.wait_for(future, limit.total_seconds())


# ------------------------------------------------------------------ the watcher


@dataclass(frozen=True)
class ReloadResult:
    changed: bool  # False: the file was rejected (or could not be read)
    message: str
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


class Reloadable(Protocol):
    """What the reloader needs from the running bot (``bot.scheduler``'s Service is one)."""

    @property
    def config_path(self) -> Path: ...
    @property
    def config(self) -> Config: ...
    @property
    def worker(self) -> str: ...

    async def apply_config(self, config: Config) -> None:
        """Swap in an already validated configuration."""


class Reloader:
    """Watches config.yaml and the editors' template folders for one running bot."""

    def __init__(self, service: Reloadable) -> None:
        self.service = service
        self.path = Path(service.config_path)
        self.last_result: ReloadResult | None = None
        self._good_text = ""
        self._seen = self.fingerprint()
        self._record(ok=True, message="", judged=self._read() or "")

    def fingerprint(self) -> tuple[object, ...]:
        # config.yaml by content too: an edit within the file system's mtime resolution
        # that keeps the size must still be seen.
        from bot.render import BUNDLED_TEMPLATES, template_dirs

        files: list[Path] = []
        for folder in template_dirs(self.service.config):
            if folder.resolve() != BUNDLED_TEMPLATES and folder.is_dir():
                files.extend(sorted(p for p in folder.rglob("*") if p.is_file()))
        return (_sha(self._read() or ""), *((str(p), *_stat(p)) for p in files))

    def _read(self) -> str | None:
        try:
            return read_config_text(self.path)
        except (OSError, UnicodeDecodeError, ConfigError):
            return None

    def _record(self, *, ok: bool, message: str, judged: str) -> None:
        if ok:
            self._good_text = judged
        _write_state(self.service.config.base_dir, ReloadState(
            ok=ok, at=datetime.now(UTC).isoformat(), worker=self.service.worker,
            message=message, judged_sha=_sha(judged), config_file=str(self.path.resolve()),
            good_text=self._good_text))

    async def check(self) -> ReloadResult | None:
        """Reload if config.yaml or a template changed since the last look."""
        seen = self.fingerprint()
        if seen == self._seen:
            return None
        self._seen = seen
        return await self.reload()

    async def reload(self) -> ReloadResult:
        """Validate the file now and swap it in, or keep the running configuration."""
        running = self.service.config
        try:
            text = read_config_text(self.path)
        except (OSError, UnicodeDecodeError, ConfigError) as exc:
            why = str(exc) if isinstance(exc, ConfigError) else f"{self.path}: cannot read it"
            result = ReloadResult(False, f"{why}; keeping the running configuration")
            log.error("%s", result.message)
            self.last_result = result
            return result
        try:
            new = await off_loop(
                lambda: validate(text, running=running, origin=str(self.path)),
                limit=VALIDATE_LIMIT, what="config-validate")
            await self.service.apply_config(new)
        except Exception as exc:  # anything at all: the running configuration stays
            message = str(exc) if isinstance(exc, ConfigError) else (
                f"{self.path}: judging it took longer than {VALIDATE_LIMIT.total_seconds():g}s"
                if isinstance(exc, TimeoutError) else
                f"{self.path}: cannot apply it ({type(exc).__name__}: {exc})")
            log.error("config reload rejected, the bot keeps its running configuration: %s",
                      message)
            self._record(ok=False, message=message, judged=text)
            self.last_result = ReloadResult(False, message)
            return self.last_result
        removed = tuple(n for n in running.channels if n not in new.channels)
        added = tuple(n for n in new.channels if n not in running.channels)
        for name in removed:
            log.warning("channel %s was removed from %s: it gets no new deliveries; its "
                        "pending ones are kept (see `newsbot status`)", name, self.path.name)
        log.info("configuration reloaded from %s", self.path)
        self._record(ok=True, message="", judged=text)
        self.last_result = ReloadResult(True, "reloaded", removed, added)
        return self.last_result
