"""The planner, as a specification: windows, gaps, caps, priority, overflow, daylight saving.

Pure functions only: no store, no clock. Times are written in the channel's local wall time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import Schedule, parse_config
from bot.models import Article, Delivery, DeliveryStatus
from bot.plan import (
    PRIORITY_HIGH,
    PRIORITY_OVERFLOW,
    Why,
    in_window,
    limit_per_poll,
    next_open,
    pick_due,
    plan_article,
    project,
)
from bot.store import ChannelHistory

BAGHDAD = ZoneInfo("Asia/Baghdad")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def schedule(**kw: Any) -> Schedule:
    return Schedule.model_validate(kw)


def local(zone: ZoneInfo, text: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def history(*times: datetime) -> ChannelHistory:
    return ChannelHistory("c", tuple(sorted(times, reverse=True)))


def delivery(n: int, due: datetime, *, priority: int = 0,
             status: DeliveryStatus = DeliveryStatus.PENDING, **kw: Any) -> Delivery:
    return Delivery(id=n, article_id=n, channel="c", status=status, due_at=due,
                    priority=priority, **kw)


def article(n: int = 1, *, published: datetime, **kw: Any) -> Article:
    values: dict[str, Any] = {
        "id": n, "source_id": "en", "guid": f"g{n}", "url": f"https://x.org/{n}",
        "title": f"Title {n}", "summary": "", "text": "", "author": "", "sections": (),
        "language": "en", "published_at": published, "discovered_at": published,
        "image_url": None, "image_alt": ""}
    values.update(kw)
    return Article(**values)


# ------------------------------------------------------------------ windows


def test_a_window_includes_its_start_and_excludes_its_end() -> None:
    s = schedule(windows=["07:00-23:30"])
    assert not in_window(local(BAGHDAD, "2026-11-24 06:59:59"), s, BAGHDAD)
    assert in_window(local(BAGHDAD, "2026-11-24 07:00"), s, BAGHDAD)
    assert in_window(local(BAGHDAD, "2026-11-24 23:29:59"), s, BAGHDAD)
    assert not in_window(local(BAGHDAD, "2026-11-24 23:30"), s, BAGHDAD)


def test_outside_the_window_the_next_opening_is_the_next_start() -> None:
    s = schedule(windows=["07:00-12:00", "14:00-23:30"])
    assert next_open(local(BAGHDAD, "2026-11-24 12:00"), s, BAGHDAD) == \
        local(BAGHDAD, "2026-11-24 14:00")
    assert next_open(local(BAGHDAD, "2026-11-24 23:45"), s, BAGHDAD) == \
        local(BAGHDAD, "2026-11-25 07:00")


def test_weekday_variants_and_overnight_windows() -> None:
    s = schedule(windows={"weekdays": ["07:00-10:00"], "sat": ["22:00-02:00"]})
    # Friday evening after the window: Saturday has only its late window.
    assert next_open(local(BAGHDAD, "2026-11-27 11:00"), s, BAGHDAD) == \
        local(BAGHDAD, "2026-11-28 22:00")
    # Saturday's overnight window runs into Sunday morning, then Monday 07:00.
    assert in_window(local(BAGHDAD, "2026-11-29 01:59"), s, BAGHDAD)
    assert next_open(local(BAGHDAD, "2026-11-29 02:00"), s, BAGHDAD) == \
        local(BAGHDAD, "2026-11-30 07:00")


def test_quiet_days_by_weekday_and_by_date_are_skipped() -> None:
    s = schedule(windows=["07:00-23:00"], quiet_days=["fri", "2026-11-28"])
    assert next_open(local(BAGHDAD, "2026-11-26 23:30"), s, BAGHDAD) == \
        local(BAGHDAD, "2026-11-29 07:00")


def test_every_day_quiet_means_no_window_ahead() -> None:
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert next_open(utc("2026-11-24 00:00"), schedule(quiet_days=days), BAGHDAD) is None


# ------------------------------------------------------------------ daylight saving


@pytest.mark.parametrize(("zone", "day", "opens_utc", "closes_utc"), [
    # London springs forward 01:00 GMT → 02:00 BST: 01:00-03:00 is one real hour.
    (LONDON, "2026-03-29", "2026-03-29 01:00", "2026-03-29 02:00"),
    # London falls back 02:00 BST → 01:00 GMT: 01:00-03:00 is three real hours.
    (LONDON, "2026-10-25", "2026-10-25 00:00", "2026-10-25 03:00"),
    # New York springs forward 02:00 EST → 03:00 EDT.
    (NEW_YORK, "2026-03-08", "2026-03-08 06:00", "2026-03-08 07:00"),
    # New York falls back 02:00 EDT → 01:00 EST.
    (NEW_YORK, "2026-11-01", "2026-11-01 05:00", "2026-11-01 08:00"),
    # Baghdad has no daylight saving: always two hours, at UTC+3.
    (BAGHDAD, "2026-03-29", "2026-03-28 22:00", "2026-03-29 00:00"),
])
def test_a_window_across_the_clock_change_opens_and_closes_at_the_right_instants(
        zone: ZoneInfo, day: str, opens_utc: str, closes_utc: str) -> None:
    s = schedule(windows=["01:00-03:00"])
    before = local(zone, f"{day} 00:00")
    opens, closes = utc(opens_utc), utc(closes_utc)
    assert next_open(before, s, zone) == opens
    minute = timedelta(minutes=1)
    assert in_window(opens, s, zone) and in_window(closes - minute, s, zone)
    assert not in_window(opens - minute, s, zone) and not in_window(closes, s, zone)
    # Every minute in between is open: no hole where the clock jumps or repeats.
    probe = opens
    while probe < closes:
        assert in_window(probe, s, zone), probe
        probe += minute


def test_a_window_starting_in_the_skipped_hour_opens_when_the_clocks_jump() -> None:
    s = schedule(windows=["02:30-04:00"])
    assert next_open(local(NEW_YORK, "2026-03-08 00:00"), s, NEW_YORK) == \
        local(NEW_YORK, "2026-03-08 03:00")  # 02:30 never happens that night


def test_the_daily_cap_counts_the_local_day_across_a_clock_change() -> None:
    s = schedule(max_per_day=2)
    # Two posts on London's fall-back day, 25 hours long: the third waits for local midnight.
    sent = history(local(LONDON, "2026-10-25 00:30"), local(LONDON, "2026-10-25 23:30"))
    plan = project(sent, [delivery(1, local(LONDON, "2026-10-25 23:40"))],
                   local(LONDON, "2026-10-25 23:40"), schedule=s, zone=LONDON)
    assert plan[0].at == local(LONDON, "2026-10-26 00:00") and plan[0].why is Why.CAP


# ------------------------------------------------------------------ dispatch decisions


def test_gap_holds_an_ordinary_post_but_not_a_priority_one() -> None:
    s = schedule(min_gap="10m")
    now = utc("2026-11-24 09:05")
    sent = history(utc("2026-11-24 09:00"))
    ordinary, breaking = delivery(1, now), delivery(2, now, priority=PRIORITY_HIGH)
    assert pick_due(sent, [ordinary], now, schedule=s, zone=BAGHDAD) == []
    assert pick_due(sent, [breaking, ordinary], now, schedule=s, zone=BAGHDAD) == [2]
    assert pick_due(sent, [ordinary], now + timedelta(minutes=5), schedule=s, zone=BAGHDAD) == [1]


def test_priority_skips_the_window_but_never_the_daily_cap() -> None:
    s = schedule(windows=["07:00-08:00"], max_per_day=1)
    night = local(BAGHDAD, "2026-11-24 03:00")
    breaking = delivery(1, night, priority=PRIORITY_HIGH)
    assert pick_due(history(), [breaking], night, schedule=s, zone=BAGHDAD) == [1]
    full = history(local(BAGHDAD, "2026-11-24 00:10"))
    assert pick_due(full, [breaking], night, schedule=s, zone=BAGHDAD) == []


def test_the_cap_resets_at_local_midnight_not_utc_midnight() -> None:
    s = schedule(max_per_day=1)
    sent = history(local(BAGHDAD, "2026-11-24 23:00"))  # 20:00 UTC
    assert pick_due(sent, [delivery(1, utc("2026-11-24 20:30"))], utc("2026-11-24 20:30"),
                    schedule=s, zone=BAGHDAD) == []
    assert pick_due(sent, [delivery(1, utc("2026-11-24 21:00"))], utc("2026-11-24 21:00"),
                    schedule=s, zone=BAGHDAD) == [1]  # 00:00 in Baghdad


# ------------------------------------------------------------------ ingest: plan_article


CONFIG = """
timezone: Asia/Baghdad
sources: [{id: en, url: f.xml}]
channels:
  tg:
    type: telegram
    chat: "@c"
    schedule:
      delay: 5m
      max_per_poll: 2
      overflow: OVERFLOW
      priority: {sections: [Breaking], keywords: [earthquake]}
"""


def test_an_article_is_due_after_the_delay_and_a_priority_one_at_once() -> None:
    config = parse_config(CONFIG.replace("OVERFLOW", "queue"))
    now = utc("2026-11-24 09:00")
    (plain,) = plan_article(article(published=now), config, now=now)
    assert plain.due_at == now + timedelta(minutes=5) and plain.priority == 0
    (urgent,) = plan_article(article(published=now, sections=("breaking",)), config, now=now)
    assert urgent.due_at == now and urgent.priority == PRIORITY_HIGH
    (keyword,) = plan_article(article(published=now, title="Earthquake hits the north"),
                              config, now=now)
    assert keyword.priority == PRIORITY_HIGH


@pytest.mark.parametrize("overflow", ["queue", "drop"])
def test_max_per_poll_keeps_the_newest_and_overflows_the_rest(overflow: str) -> None:
    config = parse_config(CONFIG.replace("OVERFLOW", overflow))
    now = utc("2026-11-24 09:00")
    articles = [article(n, published=now - timedelta(minutes=n)) for n in range(1, 5)]
    articles.append(article(9, published=now - timedelta(hours=1), sections=("Breaking",)))
    planned = limit_per_poll([(a, plan_article(a, config, now=now)) for a in articles], config)
    by_id = {a.id: plans[0] for a, plans in planned}
    # The breaking item never overflows but takes one of the two places.
    assert by_id[9].priority == PRIORITY_HIGH and by_id[9].status is DeliveryStatus.PENDING
    assert by_id[1].status is DeliveryStatus.PENDING and by_id[1].priority == 0
    for n in (2, 3, 4):
        if overflow == "drop":
            assert by_id[n].status is DeliveryStatus.SKIPPED
            assert "max_per_poll" in by_id[n].note
        else:
            assert by_id[n].status is DeliveryStatus.PENDING
            assert by_id[n].priority == PRIORITY_OVERFLOW and "queued" in by_id[n].note


# ------------------------------------------------------------------ newsbot plan


def test_the_plan_spreads_a_burst_by_the_gap_inside_the_window_and_says_why() -> None:
    s = schedule(windows=["07:00-09:00"], min_gap="30m", max_per_day=3)
    now = local(BAGHDAD, "2026-11-24 06:00")
    burst = [delivery(n, now) for n in range(1, 6)]
    plan = project(history(), burst, now, schedule=s, zone=BAGHDAD)
    assert [(p.delivery.id, p.at, p.why) for p in plan] == [
        (1, local(BAGHDAD, "2026-11-24 07:00"), Why.WINDOW),
        (2, local(BAGHDAD, "2026-11-24 07:30"), Why.GAP),
        (3, local(BAGHDAD, "2026-11-24 08:00"), Why.GAP),
        (4, local(BAGHDAD, "2026-11-25 07:00"), Why.CAP),
        (5, local(BAGHDAD, "2026-11-25 07:30"), Why.GAP),
    ]


def test_the_plan_puts_a_breaking_item_first_and_shows_held_and_paused() -> None:
    s = schedule(min_gap="10m")
    now = utc("2026-11-24 09:00")
    sent = history(now - timedelta(minutes=2))
    rows = [delivery(1, now), delivery(2, now, priority=PRIORITY_HIGH),
            delivery(3, now, status=DeliveryStatus.HELD)]
    plan = project(sent, rows, now, schedule=s, zone=BAGHDAD)
    assert [(p.delivery.id, p.at, p.why) for p in plan] == [
        (2, now, Why.NOW), (1, now + timedelta(minutes=10), Why.GAP), (3, None, Why.HELD)]
    paused = project(sent, rows, now, schedule=s, zone=BAGHDAD, paused=True)
    assert {p.why for p in paused} == {Why.PAUSED} and all(p.at is None for p in paused)


def test_the_plan_names_delay_retry_and_budget_waits() -> None:
    now = utc("2026-11-24 09:00")
    later = now + timedelta(hours=1)
    rows = [delivery(1, later), delivery(2, later + timedelta(hours=1), last_error="HTTP 502"),
            delivery(3, later + timedelta(hours=2), note="monthly budget reached")]
    plan = project(history(), rows, now, schedule=schedule(), zone=BAGHDAD)
    assert [p.why for p in plan] == [Why.DELAY, Why.RETRY, Why.BUDGET]


# ------------------------------------------------------------------ plan and dispatch agree


def _dispatch_by_ticks(rows: list[Delivery], sent: tuple[datetime, ...], now: datetime,
                       s: Schedule, zone: ZoneInfo, tick: timedelta) -> dict[int, datetime]:
    """What the dispatcher would do, tick by tick, using pick_due as it does."""
    recent, waiting, went = list(sent), list(rows), {}
    moment = now
    for _ in range(6 * 24 * 6):
        while True:
            due = sorted((d for d in waiting if d.due_at <= moment),
                         key=lambda d: (-d.priority, d.due_at, d.id))
            ids = pick_due(history(*recent), due, moment, schedule=s, zone=zone) if due else []
            if not ids:
                break
            for i in ids:
                went[i] = moment
                recent.append(moment)
                waiting = [d for d in waiting if d.id != i]
        if not waiting:
            break
        moment += tick
    return went


@pytest.mark.parametrize("seed", range(24))
def test_the_plan_matches_what_dispatch_does_tick_by_tick(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    zone = rnd.choice([LONDON, NEW_YORK, BAGHDAD])
    start, end = rnd.randint(0, 22), rnd.randint(1, 23)
    s = schedule(windows=[] if seed % 4 == 0 else [f"{start:02d}:00-{end:02d}:30"],
                 min_gap=f"{rnd.choice([0, 10, 20, 40])}m",
                 max_per_day=rnd.choice([None, 3, 5]), quiet_days=["2026-10-26"])
    ten = timedelta(minutes=10)
    # Around London's and New York's clock changes, spring and autumn.
    base = rnd.choice(["2026-10-24 20:00", "2026-03-07 20:00", "2026-03-28 00:00"])
    now = utc(base) + ten * rnd.randint(0, 600)
    rows = [delivery(n, now + ten * rnd.choice([0, 0, 1, 3, 20]),
                     priority=rnd.choice([0, 0, 0, PRIORITY_HIGH, PRIORITY_OVERFLOW]))
            for n in range(1, rnd.randint(2, 9))]
    sent = tuple(now - ten * rnd.randint(1, 30) for _ in range(rnd.randint(0, 3)))
    planned = {p.delivery.id: p.at for p in
               project(history(*sent), rows, now, schedule=s, zone=zone) if p.at}
    assert planned == _dispatch_by_ticks(rows, sent, now, s, zone, ten)


# ------------------------------------------------------------------ routing


def route(**kw: Any) -> Any:
    from bot.config import Route

    return Route.model_validate(kw)


def test_routes_by_source_section_and_language() -> None:
    from bot.plan import route_matches

    now = utc("2026-11-24 09:00")
    a = article(published=now, sections=("Security",), language="en-GB")
    assert route_matches(a, route(sources=["en"], sections=["security"], languages=["en"]))
    assert not route_matches(a, route(sources=["ar"]))
    assert not route_matches(a, route(sections=["Sport"]))
    assert not route_matches(a, route(languages=["ar"]))


def test_keywords_are_plain_case_insensitive_words_or_phrases_never_patterns() -> None:
    from bot.plan import route_matches

    now = utc("2026-11-24 09:00")
    a = article(published=now, title="Oil exports through Basra reach a monthly high",
                summary="The Ministry said, on Tuesday, that exports rose.")
    assert route_matches(a, route(include=["basra"]))
    assert route_matches(a, route(include=["MONTHLY HIGH"]))
    assert route_matches(a, route(include=["tuesday"]))  # punctuation around a word is fine
    assert not route_matches(a, route(include=["bas"]))  # whole words only
    assert not route_matches(a, route(include=["ba.*"]))  # no regular expressions
    assert not route_matches(a, route(exclude=["ministry said"]))
    arabic = article(published=now, title="صادرات النفط عبر البصرة، تسجل أعلى مستوى")
    assert route_matches(arabic, route(include=["البصرة"]))  # Arabic comma stripped
