"""The planner: pure functions, no I/O. Which channels carry an article, and when a post may go.

Three decisions live here:

- ``plan_article``: at ingest, which channels get a delivery row, its earliest due time
  (publication + delay) and its priority; ``limit_per_poll`` then applies ``max_per_poll``;
- ``pick_due``: at each dispatch tick, given a channel's history (from the store, so it holds
  across workers) and its due candidates, which may be sent now under the schedule policy
  (posting windows, quiet days, minimum gap, daily cap; priority skips windows and gaps);
- ``project``: for ``newsbot plan``, when each pending delivery is expected to go, and why.

Windows are read in local wall time in the channel's zone. Instants are compared in UTC and
turned into wall time only through zoneinfo, so daylight-saving days are right: a window
01:00-03:00 is one hour long on a spring-forward night and three on a fall-back night.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.channels.platform import Pace as PlatformPace
from bot.config import ChannelConfig, Config, EmailChannel, Route, Schedule
from bot.models import Article, ChannelHistory, Delivery, DeliveryStatus, NewDelivery

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRIORITY_HIGH = 10  # at or above: skips windows and the gap, never the daily cap
PRIORITY_OVERFLOW = -1  # queued beyond max_per_poll: goes after the channel's other posts
_ONE_DAY = timedelta(days=1)
_HORIZON_DAYS = 400  # quiet dates can close a channel for long; beyond this, "no window"


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
    if not route.include and not route.exclude:
        return True  # no words to look for: the text is not needed (most routes)
    text = f"{article.title} {article.summary}"
    if route.include and not any(_contains_phrase(text, p) for p in route.include):
        return False
    return not any(_contains_phrase(text, p) for p in route.exclude)


def is_priority(article: Article, schedule: Schedule) -> bool:
    """Whether the schedule's priority rule (sections or keywords) marks this article."""
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
    """The delivery rows an article gets: one per enabled channel whose route takes it.

    Due at publication + the schedule's delay (never before ``now``); a priority article is
    due at once. Publication times far in the past (a feed's stale date) count from a day
    before discovery, so a delay still means something.
    """
    plans: list[NewDelivery] = []
    for name, cfg in config.channels.items():
        if channels is not None and name not in channels:
            continue
        if not cfg.enabled or not route_matches(article, cfg.route):
            continue
        schedule = cfg.schedule
        urgent = is_priority(article, schedule)
        base = max(article.published_at, article.discovered_at - _ONE_DAY)
        due = now if urgent else max(now, base + schedule.delay)
        plans.append(_with_approval(NewDelivery(channel=name, due_at=due,
                                                priority=PRIORITY_HIGH if urgent else 0),
                                    cfg, now))
    return plans


APPROVAL_WINDOW_NOTE = "approval window: goes by itself unless an editor holds it"


def _with_approval(plan: NewDelivery, cfg: ChannelConfig, now: datetime) -> NewDelivery:
    """``approval: required``: the row waits (awaiting) for an editor. ``{window: 15m}``: it
    is due no sooner than 15 minutes from now, so editors have that long to hold it."""
    rule = cfg.approval
    if rule is None:
        return plan
    if rule.window is None:
        return replace(plan, status=DeliveryStatus.AWAITING, note="awaiting approval")
    return replace(plan, due_at=max(plan.due_at, now + rule.window), note=APPROVAL_WINDOW_NOTE)


def limit_per_poll(planned: Sequence[tuple[Article, Sequence[NewDelivery]]], config: Config
                   ) -> list[tuple[Article, list[NewDelivery]]]:
    """Apply each channel's ``max_per_poll`` to the new articles of one poll.

    The newest articles (priority ones first) keep their plan; the rest overflow. With
    ``overflow: queue`` they stay pending behind the channel's other posts; with ``drop`` the
    row is still created, as skipped with a note, so nothing silently disappears.
    """
    order = sorted(range(len(planned)), key=lambda i: planned[i][0].published_at, reverse=True)
    kept: dict[str, int] = {}
    result: list[list[NewDelivery]] = [list(plans) for _, plans in planned]
    # Priority posts are counted first and never overflow.
    for urgent_pass in (True, False):
        for i in order:
            for j, plan in enumerate(result[i]):
                if (plan.priority >= PRIORITY_HIGH) != urgent_pass:
                    continue
                cfg = config.channels.get(plan.channel)
                cap = cfg.schedule.max_per_poll if cfg is not None else None
                count = kept.get(plan.channel, 0)
                kept[plan.channel] = count + 1
                if cap is None or count < cap or urgent_pass:
                    continue
                assert cfg is not None
                if cfg.schedule.overflow == "drop":
                    result[i][j] = replace(plan, status=DeliveryStatus.SKIPPED, note=(
                        f"dropped: more than {cap} new posts in one poll (max_per_poll, "
                        "overflow: drop)"))
                else:
                    result[i][j] = replace(plan, priority=PRIORITY_OVERFLOW, note=(
                        f"queued: more than {cap} new posts in one poll (max_per_poll)"))
    return [(article, result[i]) for i, (article, _) in enumerate(planned)]


# ------------------------------------------------------------------ local time


def _is_quiet(day: date, schedule: Schedule) -> bool:
    names = {q.lower() for q in schedule.quiet_days}
    return _WEEKDAYS[day.weekday()] in names or day.isoformat() in names


def in_window(moment: datetime, schedule: Schedule, zone: ZoneInfo) -> bool:
    """Whether ``moment`` falls inside a posting window on a day that is not quiet
    (no windows: any time of a day that is not quiet)."""
    local = moment.astimezone(zone)
    if _is_quiet(local.date(), schedule):
        return False
    if not schedule.windows:
        return True
    clock = local.time().replace(tzinfo=None, fold=0)
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


def _instants(day: date, clock: time, zone: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants a local wall time names: one, two (fall-back) or, for a time the
    clocks skip (spring-forward), one either side of the jump."""
    naive = datetime.combine(day, clock)
    return tuple(naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))


def _transitions(day: date, zone: ZoneInfo) -> list[datetime]:
    """The instants during ``day`` (local) at which the zone's UTC offset changes."""
    start = _instants(day, time(0), zone)[0]
    end = start + timedelta(hours=26)
    found: list[datetime] = []
    step = timedelta(hours=1)
    probe = start
    while probe < end:
        nxt = probe + step
        if probe.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            lo, hi = probe, nxt  # offset changes in (lo, hi]: narrow to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == lo.astimezone(zone).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0))
        probe = nxt
    return found


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (UTC)."""
    first = min(_instants(day, time(0), zone))
    return first if first.astimezone(zone).date() == day else max(_instants(day, time(0), zone))


def next_open(moment: datetime, schedule: Schedule, zone: ZoneInfo) -> datetime | None:
    """The first instant at or after ``moment`` inside a posting window (None: none within
    about a year, e.g. every day quiet)."""
    if in_window(moment, schedule, zone):
        return moment
    first_day = moment.astimezone(zone).date()
    for offset in range(_HORIZON_DAYS):
        day = first_day + timedelta(days=offset)
        if _is_quiet(day, schedule):
            continue
        # Where the predicate can turn true: a window's start (either reading of an
        # ambiguous or skipped wall time), local midnight, and a clock change.
        candidates = [local_midnight(day, zone), *_transitions(day, zone)]
        for w in schedule.windows:
            candidates.extend(_instants(day, w.start, zone))
        hits = [c for c in candidates if c >= moment and c.astimezone(zone).date() == day
                and in_window(c, schedule, zone)]
        if hits:
            return min(hits)
    return None


def sent_on_local_day(history: ChannelHistory, day: date, zone: ZoneInfo) -> int:
    """How many of the channel's recent posts fell on ``day`` in its zone."""
    return sum(1 for t in history.recent if t.astimezone(zone).date() == day)


# ------------------------------------------------------------------ dispatch: may it go now?


def platform_allows(history: ChannelHistory, now: datetime, pace: PlatformPace) -> bool:
    """Whether the platform's limit lets one more post go at ``now``.

    While a post is in flight the next one waits for its outcome, so the interval is counted
    from when the platform answered, however many workers share the channel.
    """
    if pace.min_interval <= timedelta(0) and pace.per_minute is None:
        return True
    if history.in_flight:
        return False
    if history.last_at is not None and now - history.last_at < pace.min_interval:
        return False
    minute = timedelta(minutes=1)
    return pace.per_minute is None or sum(
        1 for t in history.recent if now - t < minute) < pace.per_minute


def pace_allows_at(history: ChannelHistory, now: datetime, pace: PlatformPace) -> datetime:
    """The earliest moment from ``now`` at which ``platform_allows`` says yes, as far as the
    history shows. A post still in flight is taken as answered now (its answer starts the
    interval), so the moment is a lower bound: the dispatcher asks the store again then."""
    at = now
    if history.in_flight:
        at = now + pace.min_interval
    if history.last_at is not None:
        at = max(at, history.last_at + pace.min_interval)
    if pace.per_minute is not None and len(history.recent) >= pace.per_minute:
        # The oldest of the last ``per_minute`` posts must have left the 60 s window.
        at = max(at, history.recent[pace.per_minute - 1] + timedelta(minutes=1))
    return at


def next_send_at(history: ChannelHistory, waiting: Sequence[Delivery], now: datetime, *,
                 schedule: Schedule, zone: ZoneInfo,
                 pace: PlatformPace | None = None) -> datetime | None:
    """When the first of a channel's ``waiting`` (pending) posts may go: the schedule's time
    (due times, windows, gap, daily cap; as ``project`` says) held back by the platform's
    pace. None when nothing waits or nothing can be planned. ``newsbot run`` wakes its
    dispatcher then, rather than at its next fixed tick."""
    times = [p.at for p in project(history, waiting, now, schedule=schedule, zone=zone)
             if p.at is not None]
    if not times:
        return None
    at = min(times)
    return at if pace is None else pace_allows_at(history, at, pace)


def pick_due(history: ChannelHistory, candidates: Sequence[Delivery], now: datetime, *,
             schedule: Schedule, zone: ZoneInfo, limit: int = 1,
             pace: PlatformPace | None = None) -> list[int]:
    """Which candidates (already due, best first) may be sent at ``now``.

    One post per tick per channel keeps the minimum gap exact; priority posts skip
    windows and the gap but never the daily cap, nor the platform's ``pace``.
    """
    if pace is not None and (pace.min_interval > timedelta(0) or pace.per_minute):
        if not platform_allows(history, now, pace):
            return []
        limit = 1
    chosen: list[int] = []
    used_today = sent_on_local_day(history, now.astimezone(zone).date(), zone)
    open_now = in_window(now, schedule, zone)
    gap_ok = history.last_at is None or now - history.last_at >= schedule.min_gap
    for delivery in candidates:
        if len(chosen) >= limit:
            break
        if delivery.is_correction:
            # An edit of a post already out adds no post: windows, the gap and the daily
            # cap do not hold it back (the platform's pace above still does).
            chosen.append(delivery.id)
            continue
        if schedule.max_per_day is not None and used_today + len(chosen) >= schedule.max_per_day:
            break
        urgent = delivery.priority >= PRIORITY_HIGH
        if not urgent and not (open_now and gap_ok):
            continue
        chosen.append(delivery.id)
        if schedule.min_gap > timedelta(0):
            break  # the next one waits a full gap after this
    return chosen


# ------------------------------------------------------------------ newsbot plan


class Why(StrEnum):
    """Why a pending post goes when it does (the constraint that set its time)."""

    NOW = "due now"
    DELAY = "delay after publication"
    RETRY = "retrying after an error"
    BUDGET = "waiting on budget"
    GAP = "gap"
    WINDOW = "window opens"
    CAP = "cap reached"
    HELD = "held"
    APPROVAL = "awaiting approval"
    PAUSED = "paused"
    NO_WINDOW = "no window ahead"
    REMOVED = "channel removed"  # no longer in config.yaml (or disabled): kept, not sent
    DIGEST = "with the digest"  # an email digest's entries go on its cron


@dataclass(frozen=True)
class PlannedPost:
    """One pending delivery's expected send time (UTC; None: not until an editor acts)."""

    delivery: Delivery
    at: datetime | None
    why: Why
    detail: str = ""  # a few words for people: "gap 10m after the previous post"


def _waiting_reason(delivery: Delivery) -> Why:
    if delivery.note == APPROVAL_WINDOW_NOTE:
        return Why.APPROVAL
    if "budget" in delivery.note.casefold():
        return Why.BUDGET
    if delivery.last_error:
        return Why.RETRY
    return Why.DELAY


def _cap_full(day: date, counts: dict[date, int], schedule: Schedule) -> bool:
    return schedule.max_per_day is not None and counts.get(day, 0) >= schedule.max_per_day


def _earliest(start: datetime, *, urgent: bool, last: datetime | None, counts: dict[date, int],
              schedule: Schedule, zone: ZoneInfo) -> tuple[datetime | None, Why]:
    """The first instant at or after ``start`` a post may go, and what held it back."""
    why = Why.NOW
    moment = start
    if not urgent and last is not None and moment < last + schedule.min_gap:
        moment, why = last + schedule.min_gap, Why.GAP
    for _ in range(_HORIZON_DAYS):
        if not urgent:
            opened = next_open(moment, schedule, zone)
            if opened is None:
                return None, Why.NO_WINDOW
            if opened > moment:
                moment, why = opened, (Why.CAP if why is Why.CAP else Why.WINDOW)
        day = moment.astimezone(zone).date()
        if not _cap_full(day, counts, schedule):
            return moment, why
        moment, why = local_midnight(day + timedelta(days=1), zone), Why.CAP
    return None, Why.NO_WINDOW


def project(history: ChannelHistory, pending: Sequence[Delivery], now: datetime, *,
            schedule: Schedule, zone: ZoneInfo, paused: bool = False) -> list[PlannedPost]:
    """When each pending (or held) delivery of one channel is expected to go, in send order.

    Simulates the dispatcher: at each step the post that can go first goes (ties: priority,
    then due time, then id, as the store claims them); it then counts against the gap and
    the daily cap of its local day. Held posts, and every post of a paused channel, get no
    time. Times are instants; the dispatch tick adds up to its interval.
    """
    counts: dict[date, int] = {}
    for t in history.recent:
        day = t.astimezone(zone).date()
        counts[day] = counts.get(day, 0) + 1
    last = history.last_at
    waiting = sorted((d for d in pending if d.status is DeliveryStatus.PENDING),
                     key=lambda d: (-d.priority, d.due_at, d.id))
    held = [d for d in pending if d.status is DeliveryStatus.HELD]
    awaiting = [d for d in pending if d.status is DeliveryStatus.AWAITING]
    if paused:
        return [PlannedPost(d, None, Why.PAUSED, "the channel is paused")
                for d in [*waiting, *awaiting, *held]]
    planned: list[PlannedPost] = []
    while waiting:
        best: tuple[datetime, int, Delivery, Why] | None = None
        normal_done = False
        for rank, d in enumerate(waiting):
            urgent = d.priority >= PRIORITY_HIGH
            if not urgent:
                # Every ordinary post shares the window, gap and cap: only the first one
                # due can be the next to go; later-due ones cannot beat it.
                if normal_done:
                    continue
                first_due = min(x.due_at for x in waiting if x.priority < PRIORITY_HIGH)
                at, why = _earliest(max(now, first_due), urgent=False, last=last,
                                    counts=counts, schedule=schedule, zone=zone)
                normal_done = True
                if at is None:
                    continue
                # Among those due by then, the store's order decides.
                d = next(x for x in waiting
                         if x.priority < PRIORITY_HIGH and x.due_at <= at)
                rank = waiting.index(d)
                if why is Why.NOW and d.due_at > now:
                    why = _waiting_reason(d)
            else:
                at, why = _earliest(max(now, d.due_at), urgent=True, last=last, counts=counts,
                                    schedule=schedule, zone=zone)
                if at is None:
                    continue
                if why is Why.NOW and d.due_at > now:
                    why = _waiting_reason(d)
            if best is None or (at, rank) < (best[0], best[1]):
                best = (at, rank, d, why)
        if best is None:
            planned.extend(PlannedPost(d, None, Why.NO_WINDOW,
                                       "no posting window within a year") for d in waiting)
            break
        at, _, chosen, why = best
        planned.append(PlannedPost(chosen, at, why, _detail(why, chosen, schedule)))
        waiting.remove(chosen)
        last = at
        day = at.astimezone(zone).date()
        counts[day] = counts.get(day, 0) + 1
    planned.extend(PlannedPost(d, None, Why.APPROVAL, "an editor must approve it")
                   for d in awaiting)
    planned.extend(PlannedPost(d, None, Why.HELD, "held by an editor") for d in held)
    return planned


def _detail(why: Why, delivery: Delivery, schedule: Schedule) -> str:
    from bot.durations import format_duration

    if why is Why.GAP:
        return f"{format_duration(schedule.min_gap)} after the previous post"
    if why is Why.CAP:
        return f"{schedule.max_per_day}/day reached, next local day"
    if why is Why.BUDGET:
        return delivery.note
    if why is Why.RETRY:
        return delivery.last_error[:80]
    if why is Why.APPROVAL:
        return delivery.note if delivery.note == APPROVAL_WINDOW_NOTE else ""
    if why is Why.DELAY:
        return f"{format_duration(schedule.delay)} after publication"
    if why is Why.NOW:
        return "priority" if delivery.priority >= PRIORITY_HIGH else ""
    return ""


def is_digest(cfg: ChannelConfig) -> bool:
    return isinstance(cfg, EmailChannel)
