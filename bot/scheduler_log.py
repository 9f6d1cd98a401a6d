"""APScheduler's log for ``newsbot run``: a routine job's skipped tick is not a warning."""

from __future__ import annotations

import logging
from typing import Any

#: Jobs that tick often, for which a tick falling inside a pass still running is expected
#: (a slow reload check, a digest catch-up): the tick after the pass does the work.
#: APScheduler warns about every such skip; for these it is logged at DEBUG.
ROUTINE_JOBS = frozenset({"poll", "reload"})
ROUTINE_JOB_PREFIXES = ("digest-catch-up:",)
_SKIPPED = "skipped: maximum number of running instances reached"


class SchedulerLog(logging.LoggerAdapter[logging.Logger]):
    """APScheduler's own logger, with a routine job's skipped tick at DEBUG, not WARNING.

    Every other message, including a skipped digest cron run, keeps its level.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level == logging.WARNING and _SKIPPED in str(msg) and args \
                and _is_routine(getattr(args[0], "id", None)):
            level = logging.DEBUG
        kwargs.setdefault("stacklevel", 2)  # name APScheduler's line, not this one
        super().log(level, msg, *args, **kwargs)


def _is_routine(job_id: object) -> bool:
    return isinstance(job_id, str) and (
        job_id in ROUTINE_JOBS or job_id.startswith(ROUTINE_JOB_PREFIXES))
