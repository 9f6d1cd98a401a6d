"""The planner: pure functions, no I/O. Which channels carry an article, and when a post may go.

Two decisions live here:

- ``plan_article``: at ingest, which channels get a delivery row and its earliest due time
  (publication + delay), and its priority;
- ``pick_due``: at each dispatch tick, given a channel's history (from the store, so it holds
  across workers) and its due candidates, which may be sent now under the schedule policy
  (posting windows, quiet days, minimum gap, daily cap; priority skips windows and gaps).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import ChannelConfig, Config, EmailChannel, Route, Schedule
from bot.models import Article, Delivery
from bot.store.outbox import ChannelHistory, NewDelivery

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRIORITY_HIGH = 10


def _contains_phrase(haystack: str, phrase: str) -> bool:
    # Plain, case-insensitive word/phrase match: never a user-supplied regex.
    words = haystack.casefold().split()
    needle = phrase.casefold().split()
    if not needle:
        return False
    n = len(needle)
    stripped = [w.strip(".,;:!?\"'()[]«»“”‘’،؛") for w in words]
    return any(stripped[i:i + n] == needle for i in range(len(stripped) - n + 1))


def route_matches(article: Article, route: Route) -> bool:
    """Whether ``route`` (sources, sections, languages, include/exclude words) takes it."""
    if route.sources and article.source_id not in route.sources:
        return False
    if route.sections:
        wanted = {s.casefold() for s in route.sections}
        if not wanted & {s.casefold() for s in article.sections}:
            return False
    if route.languages:
        lang = article.language.split("-")[0].casefold()
        if lang not in {x.split("-")[0].casefold() for x in route.languages}:
            return False
    text = f"{article.title} {article.summary}"
    if route.include and not any(_contains_phrase(text, p) for p in route.include):
        return False
    return not any(_contains_phrase(text, p) for p in route.exclude)


def is_priority(article: Article, schedule: Schedule) -> bool:
    rule = schedule.priority
    if rule is None:
        return False
    sections = {s.casefold() for s in article.sections}
    if any(s.casefold() in sections for s in rule.sections):
        return True
    text = f"{article.title} {article.summary}"
    return any(_contains_phrase(text, k) for k in rule.keywords)


def plan_article(article: Article, config: Config, *, now: datetime,
                 channels: Sequence[str] | None = None) -> list[NewDelivery]:
    """The delivery rows an article gets: one per enabled channel whose route takes it."""
    plans: list[NewDelivery] = []
    for name, cfg in config.channels.items():
        if channels is not None and name not in channels:
            continue
        if not cfg.enabled or not route_matches(article, cfg.route):
            continue
        schedule = cfg.schedule
        priority = PRIORITY_HIGH if is_priority(article, schedule) else 0
        base = max(article.published_at, article.discovered_at - timedelta(days=1))
        due = max(now, base + schedule.delay) if priority == 0 else now
        plans.append(NewDelivery(channel=name, due_at=due, priority=priority))
    return plans


# ------------------------------------------------------------------ when may a post go


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _is_quiet(day: date, schedule: Schedule) -> bool:
    names = {q.lower() for q in schedule.quiet_days}
    return _WEEKDAYS[day.weekday()] in names or day.isoformat() in names


def in_window(moment: datetime, schedule: Schedule, zone: ZoneInfo) -> bool:
    """Whether ``moment`` falls inside a posting window (no windows: always)."""
    local = moment.astimezone(zone)
    if _is_quiet(local.date(), schedule):
        return False
    if not schedule.windows:
        return True
    clock = local.time().replace(tzinfo=None)
    for w in schedule.windows:
        if w.overnight:
            assert w.end is not None
            yesterday = (local.weekday() - 1) % 7
            if (local.weekday() in w.days and clock >= w.start) or (
                    yesterday in w.days and clock < w.end):
                return True
        elif local.weekday() in w.days and w.start <= clock and (w.end is None or clock < w.end):
            return True
    return False


def sent_on_local_day(history: ChannelHistory, day: date, zone: ZoneInfo) -> int:
    return sum(1 for t in history.recent if _local_day(t, zone) == day)


def pick_due(history: ChannelHistory, candidates: Sequence[Delivery], now: datetime, *,
             schedule: Schedule, zone: ZoneInfo, limit: int = 1) -> list[int]:
    """Which candidates (already due, best first) may be sent at ``now``.

    One post per tick per channel keeps the minimum gap exact; priority posts skip
    windows and the gap but never the daily cap.
    """
    chosen: list[int] = []
    today = _local_day(now, zone)
    used_today = sent_on_local_day(history, today, zone)
    open_now = in_window(now, schedule, zone)
    gap_ok = history.last_at is None or now - history.last_at >= schedule.min_gap
    for delivery in candidates:
        if len(chosen) >= limit:
            break
        if schedule.max_per_day is not None and used_today + len(chosen) >= schedule.max_per_day:
            break
        urgent = delivery.priority >= PRIORITY_HIGH
        if not urgent and not (open_now and gap_ok):
            continue
        chosen.append(delivery.id)
        if schedule.min_gap > timedelta(0):
            break  # the next one waits a full gap after this
    return chosen


def is_digest(cfg: ChannelConfig) -> bool:
    return isinstance(cfg, EmailChannel)
