"""``newsbot run``'s process: the run lock, recovery after an unclean stop, signals, and the
Service (bot/scheduler.py) between start and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Config, EmailChannel, load_config
from bot.runlock import hold_run_lock
from bot.scheduler import POLL_LEASE, Service
from bot.settings import RuntimeSettings
from bot.store import open_store

log = logging.getLogger("newsbot.run")


async def run_service(config_path: Path, *, dry_run: bool = False,
                      stop: asyncio.Event | None = None,
                      settings: RuntimeSettings | None = None) -> None:
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives; then shut down cleanly."""
    config = load_config(config_path)
    with hold_run_lock(config.store_url):
        await _serve(config_path, config, dry_run=dry_run, stop=stop,
                     settings=settings or RuntimeSettings())


async def _serve(config_path: Path, config: Config, *, dry_run: bool,
                 stop: asyncio.Event | None, settings: RuntimeSettings) -> None:
    store = open_store(config.store_url, busy_timeout=settings.sqlite_busy_timeout)
    if store.dialect == "sqlite":
        # The run lock says no other process works this store: whatever is claimed was
        # claimed by one that died (a kill, a power cut), so recover it now, not at lease end.
        # A digest run's claims stay the run's: it resumes itself and sends only to readers
        # without a copy; its lease goes, so that happens now rather than at lease end.
        released, unknown = store.release_claims(None, now=datetime.now(UTC))
        store.release_lease(POLL_LEASE, None)
        for name, channel in config.channels.items():
            if isinstance(channel, EmailChannel):
                store.release_lease(f"digest:{name}", None)
        if released or unknown:
            log.warning("recovered after an unclean stop: %d claimed deliveries back in the "
                        "queue; %d were being sent and are marked unknown (see `newsbot "
                        "status`)", released, unknown)
    service = Service(config_path, config, store, dry_run=dry_run, settings=settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
        loop.add_signal_handler(signal.SIGHUP, service.request_reload)
    try:
        await service.start()
        await stop.wait()
        log.info("stopping: finishing the post in flight, handing back claimed ones")
    finally:
        await service.stop()
        store.close()
