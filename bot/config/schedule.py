"""When a channel may post: windows, quiet days, gaps, caps, priority and digest crons.

The editors' timing vocabulary in config.yaml (``windows: ['07:00-23:30']`` or per weekday,
``quiet_days``, ``min_gap`` …), parsed into frozen values that bot.plan reads.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from bot.config.base import WEEKDAYS, Duration, FrozenModel


class Window(FrozenModel):
    """A posting window on some weekdays, in the channel's time zone. ``end`` may be 24:00."""

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time | None  # None means midnight at the end of the day
    overnight: bool = False  # end is on the next day (22:00-02:00)


def _parse_clock(text: str) -> time | None:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day; write it like 07:00")
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        return None
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time of day; write it like 07:00")
    return time(hour, minute)


def _parse_days(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if part in ("daily", "all", "*"):
            days.update(range(7))
        elif part == "weekdays":
            days.update(range(5))
        elif part == "weekends":
            days.update((5, 6))
        elif "-" in part:
            first, _, last = part.partition("-")
            if first not in WEEKDAYS or last not in WEEKDAYS:
                raise ValueError(f"{spec!r} is not a weekday range; write it like mon-fri")
            a, b = WEEKDAYS.index(first), WEEKDAYS.index(last)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part in WEEKDAYS:
            days.add(WEEKDAYS.index(part))
        else:
            raise ValueError(f"{part!r} is not a weekday; use mon, tue, … sun, weekdays, weekends")
    return frozenset(days)


def _parse_window(text: str, days: frozenset[int]) -> Window:
    if not isinstance(text, str) or "-" not in text:
        raise ValueError(f"{text!r} is not a window; write it like 07:00-23:30")
    first, _, last = text.partition("-")
    start, end = _parse_clock(first), _parse_clock(last)
    if start is None:
        raise ValueError(f"{text!r}: a window cannot start at 24:00")
    overnight = end is not None and end <= start
    return Window(days=days, start=start, end=end, overnight=overnight)


def _parse_windows(value: Any) -> tuple[Window, ...]:
    if isinstance(value, Window):
        return (value,)
    if isinstance(value, list | tuple):
        everyday = frozenset(range(7))
        return tuple(w if isinstance(w, Window) else _parse_window(w, everyday) for w in value)
    if isinstance(value, dict):
        windows: list[Window] = []
        for day_spec, spans in value.items():
            days = _parse_days(str(day_spec))
            if isinstance(spans, str):
                spans = [spans]
            windows.extend(_parse_window(s, days) for s in spans or [])
        return tuple(windows)
    raise ValueError("windows: give a list like ['07:00-23:30'] or a mapping of weekdays to lists")


class PriorityRule(FrozenModel):
    """Articles matching this skip posting windows and gaps (never the daily cap)."""

    sections: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


class Schedule(FrozenModel):
    windows: Annotated[tuple[Window, ...], BeforeValidator(_parse_windows)] = ()
    quiet_days: tuple[str, ...] = ()  # weekday names or ISO dates (2026-12-25)
    min_gap: Duration = timedelta(0)
    max_per_day: int | None = Field(default=None, ge=1)
    max_per_poll: int | None = Field(default=None, ge=1)
    overflow: Literal["queue", "drop"] = "queue"
    delay: Duration = timedelta(0)  # after publication, so a quick correction lands first
    priority: PriorityRule | None = None
    timezone: str | None = None  # defaults to the file's timezone
    cron: str | None = None  # email digests: "0 7 * * *" in the time zone
    grace: Duration = timedelta(hours=6)  # a missed digest run is still sent this late

    @field_validator("quiet_days")
    @classmethod
    def _check_quiet_days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for day in value:
            if day.lower() not in WEEKDAYS and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                raise ValueError(f"{day!r} is not a weekday (mon…sun) or a date (2026-12-25)")
        return value

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a crontab line ({exc})") from None
        return value
