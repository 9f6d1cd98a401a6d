"""The operator's log stays readable while a long pass runs: a routine job's skipped tick is
logged at DEBUG, while APScheduler's other warnings (a digest run skipped) keep their level."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import parse_config
from bot.scheduler import Service
from bot.settings import RuntimeSettings
from bot.store import open_store
from tests.kit import TELEGRAM, newsroom_yaml, wait_until


def config_text(tmp: Path) -> str:
    return newsroom_yaml(TELEGRAM, store=f"sqlite:///{tmp}/newsbot.db",
                         extra=f"preview_dir: {tmp}/preview\nweb: {{enabled: false}}")


SKIPPED = "skipped: maximum number of running instances reached"


def skips(caplog: pytest.LogCaptureFixture, job_name: str, level: int) -> int:
    """How many "skipped" records APScheduler logged for the job ``job_name`` at ``level``.

    Matched on the text: records reach handlers already formatted (``bot.redact``).
    """
    return sum(1 for r in caplog.records
               if r.name.startswith("apscheduler") and r.levelno == level
               and SKIPPED in r.getMessage() and f'job "{job_name} (' in r.getMessage())


async def test_a_long_poll_does_not_fill_the_log_with_skip_warnings_but_a_digest_skip_warns(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A pass and a store that answer only once the test has seen what it looks for: the
    # jobs outlast as many ticks as that takes, however slow or fast the machine.
    done = threading.Event()

    async def slow_pass(*_: Any, **__: Any) -> None:
        await wait_until(done.is_set, timeout=30)

    def slow_lease(*_: Any, **__: Any) -> bool:
        done.wait(30)  # a store slow to answer: the poll tick outlasts the next ticks
        return True

    caplog.set_level(logging.DEBUG, logger="apscheduler")
    config = parse_config(config_text(tmp_path), base_dir=tmp_path)
    store = open_store(config.store_url)
    monkeypatch.setattr(store, "acquire_lease", slow_lease)
    # A 1.5 s poll lease makes the poll job tick every 0.5 s (a third of the lease).
    service = Service(tmp_path / "config.yaml", config, store, worker="w-test",
                      settings=RuntimeSettings(lease_ttl=timedelta(seconds=1.5)))
    try:
        await service.start()
        assert service.scheduler is not None
        # A job that is not one of the routine ticks: its skipped run must still be a warning.
        service.scheduler.add_job(slow_pass, IntervalTrigger(seconds=0.5), id="digest:weekly",
                                  name="Service.digest_tick", max_instances=1, coalesce=True,
                                  next_run_time=datetime.now(UTC))
        await wait_until(lambda: skips(caplog, "Service.poll_tick", logging.DEBUG) >= 1
                         and skips(caplog, "Service.digest_tick", logging.WARNING) >= 1,
                         what="a skipped poll tick and a skipped digest run")
    finally:
        done.set()
        await service.stop(grace=timedelta(seconds=0.1))
        store.close()
    assert skips(caplog, "Service.poll_tick", logging.DEBUG) >= 1  # the overlap did happen
    assert skips(caplog, "Service.poll_tick", logging.WARNING) == 0
    assert skips(caplog, "Service.digest_tick", logging.WARNING) >= 1
