"""Polling: fetch a source, parse it, enrich new items, store them, plan their deliveries.

Each source's failure is returned as a value in its PollReport and recorded in the store
(visible in ``newsbot status``); one broken feed never stops the others. Each source's poll,
its article pages included, ends by one deadline (``fetch.source_deadline``), so one slow
site can hold up only its own source, and only for that long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot import metrics
from bot.config import Config, Source
from bot.corrections import correction_policy
from bot.errors import SourceError
from bot.ingest.fetch import Deadline, Fetcher, FetchResult
from bot.ingest.parsebudget import parse_within, polling
from bot.ingest.pollwriter import PollWriter
from bot.models import Article, FeedItem
from bot.store import NewDelivery, PollRecord, PollSuccess, SourceState

if TYPE_CHECKING:
    from bot.ingest.parse import ParsedFeed
    from bot.ingest.parseworker import Parsed
    from bot.store.light import CycleStore

# The page extractor (trafilatura), the folder reader and the image checker are imported by
# the code that uses them: a poll whose feeds answer 304, or give no new item, or fetch no
# page, never loads them (they cost a third of a second at start-up). So are the parser's
# message format (``Parsed``, with pickle) and the planner: a feed that answers 304 needs
# neither (tests/test_startup.py).

log = logging.getLogger("newsbot.ingest")
MAX_BACKOFF = timedelta(hours=6)
#: Page text is extracted in a thread once the page is in; it gets this long past the
#: deadline before its item is stored with the feed's own summary instead.
EXTRACT_GRACE = 2.0
IMAGE_CHECK_TIMEOUT = 10.0  # seconds for one image's check; a slower image is a text post
NOTE_CHARS = 600  # the notes kept for `newsbot status` (the log has them all)


@dataclass(frozen=True)
class PollReport:
    """What polling one source did."""

    source_id: str
    ok: bool
    new: int = 0  # new articles announced
    known: int = 0  # items already stored
    backfilled: int = 0  # new but older than the backfill window: stored, not announced
    deliveries: int = 0
    not_modified: bool = False
    problems: tuple[str, ...] = ()  # per-item trouble that did not stop the source
    error: str = ""


def next_poll_after_failure(every: timedelta, failures: int) -> timedelta:
    """Back off on a failing source: its interval doubled per failure, at most 6 hours."""
    grown: timedelta = every * 2 ** min(max(failures - 1, 0), 10)
    return min(grown, max(MAX_BACKOFF, every))


def make_fetcher(config: Config) -> Fetcher:
    pages = config.fetch.offline_pages
    offline = config.resolve_path(pages) if pages else None
    return Fetcher(config.fetch, offline, base_dir=config.base_dir)


async def poll_source(source: Source, *, config: Config, store: CycleStore,
                      fetcher: Fetcher, now: datetime, state: SourceState | None = None,
                      unchanged: list[tuple[str, PollSuccess]] | None = None,
                      writer: PollWriter | None = None) -> PollReport:
    """Poll one source once. Never raises for the source's own trouble. ``state``: the
    source's state if the caller has just read it (else it is read here). ``unchanged``:
    where a feed that has not changed is noted for the caller to record (else it is
    recorded here). ``writer``: the writer the polls running beside this one share, so
    that those ready together are stored in one transaction (else one of its own). All of
    it is ``CycleStore``'s: on SQLite the light store writes it without SQLAlchemy."""
    if state is None:
        state = store.source_state(source.id)
    location = source.url if source.is_remote else str(config.resolve_path(source.url))
    deadline = Deadline.after(config.fetch.deadline.total_seconds())
    folder = False
    if not source.is_remote:  # a path from config.yaml: a feed file or a folder of articles
        from bot.ingest.folder import is_folder_source

        folder = is_folder_source(Path(location))
    result: FetchResult | None
    parsed: Parsed | None
    try:
        if folder:
            result, parsed = await _read_folder(source, Path(location), config, state)
        else:
            result, parsed = await _fetch_feed(source, location, fetcher, state, deadline,
                                               config.fetch.parse_timeout.total_seconds())
        if result is None or parsed is None:
            done = PollSuccess(now=now, next_poll_at=now + source.every, etag=state.etag,
                               last_modified=state.last_modified)
            if unchanged is None:
                store.record_poll_successes([(source.id, done)])
            else:
                unchanged.append((source.id, done))
            return PollReport(source.id, ok=True, not_modified=True)
    except SourceError as exc:
        failures = store.record_poll_failure(
            source.id, now=now, error=exc.problem,
            next_poll_at=now + next_poll_after_failure(source.every, state.consecutive_errors + 1))
        log.error("%s (failure %d in a row)", exc, failures)
        metrics.source_failed(source.id)
        return PollReport(source.id, ok=False, error=str(exc))
    return await _store_poll(source, config=config, store=store, fetcher=fetcher,
                             now=now, writer=writer or PollWriter(store),
                             result=result, parsed=parsed.feed, deadline=deadline,
                             pages="never" if folder else source.fetch_pages,
                             as_fed=parsed.as_fed)


async def _fetch_feed(source: Source, location: str, fetcher: Fetcher, state: SourceState,
                      deadline: Deadline, parse_timeout: float
                      ) -> tuple[FetchResult | None, Parsed | None]:
    """The source's feed fetched and parsed; ``(None, None)`` when it has not changed."""
    result = await fetcher.fetch_source(location, source_id=source.id,
                                        etag=state.etag or None,
                                        last_modified=state.last_modified or None,
                                        deadline=deadline)
    if result.status == "not_modified":
        return None, None
    # Parsing is CPU-bound (a hostile feed at the size cap could take a minute): off the
    # event loop, and stopped at fetch.parse_timeout (parsebudget.py).
    parsed = await parse_within(parse_timeout, source.id, result.body, url=result.url,
                                headers=result.header_map(), language=source.language,
                                as_fed=source.fetch_pages == "never")
    return result, parsed


async def _read_folder(source: Source, folder: Path, config: Config, state: SourceState
                       ) -> tuple[FetchResult, Parsed]:
    """A folder source's new files as items (``bot.ingest.folder``); files seen by the last
    good poll are not read again (a couple of seconds' margin for clocks and slow writers)."""
    from bot.ingest.folder import read_folder
    from bot.ingest.parseworker import Parsed

    since = state.last_success_at
    since_ns = int((since.timestamp() - 2) * 1e9) if since else None
    parsed = await asyncio.to_thread(
        read_folder, source.id, folder, public_url=config.public_url,
        max_bytes=config.fetch.max_bytes, language=source.language, since_ns=since_ns)
    return FetchResult("ok", b"", str(folder)), Parsed(parsed)


async def _store_poll(source: Source, *, config: Config, store: CycleStore, fetcher: Fetcher,
                      writer: PollWriter, now: datetime, result: FetchResult,
                      parsed: ParsedFeed,
                      deadline: Deadline, pages: str,
                      as_fed: tuple[FeedItem | None, ...] | None = None) -> PollReport:
    """Store what one poll found: new items enriched (``pages``: the fetch_pages mode), their
    images checked, articles and deliveries written, the source's row updated. ``as_fed``:
    each item as ``enrich.as_fed`` makes it (None: unchanged), if the parser worked it out."""
    # The planner is imported by the first feed that has something to store: a poll whose
    # feeds all answer 304 plans nothing.
    from bot.plan import limit_per_poll, plan_article

    problems = list(parsed.problems)
    cutoff = now - config.backfill
    fresh: list[FeedItem] = []
    ready: list[FeedItem] | None = [] if as_fed is not None and pages == "never" else None
    known = backfilled = 0
    # The feed's guids and URLs, in one query, on the loop: in a thread it took less of the
    # loop's CPU but more of the process's, and more memory (a connection per thread).
    stored = store.find_articles(parsed.items)
    settled: list[FeedItem] = []  # known (refreshed, never re-announced) or too old
    settled_found: list[Article | None] = []
    for index, (item, existing) in enumerate(zip(parsed.items, stored, strict=True)):
        if existing is not None:
            known += 1
        elif item.published is not None and item.published < cutoff:
            backfilled += 1
        else:
            fresh.append(item)
            if ready is not None and as_fed is not None:
                ready.append(as_fed[index] or item)
            continue
        settled.append(item)
        settled_found.append(existing)

    enriched = await _enrich_by(deadline, fresh, fetcher, mode=pages, ready=ready)
    items: list[FeedItem] = []
    for item, problem in enriched:
        if problem:
            problems.append(problem)
        items.append(item if item.published is not None else replace(item, published=now))
    items = await _check_images(items, fetcher, deadline)

    def plan(articles: list[Article]) -> list[tuple[int, NewDelivery]]:
        planned = [(article, plan_article(article, config, now=now)) for article in articles]
        if not any(plans for _, plans in planned):
            return []  # no channel takes any of them (or there is none): nothing to limit
        # max_per_poll is decided over the whole poll: the newest articles keep their places.
        return [(article.id, p) for article, plans in limit_per_poll(planned, config)
                for p in plans]

    # Everything the poll writes (articles, deliveries, the source's row) is kept or undone
    # together: a savepoint of its own in the transaction of the polls stored beside it
    # (bot/ingest/pollwriter.py), written in the writer's thread while the loop goes on. A
    # failure to store it is raised here, for this source alone, as record_poll raised it.
    written = await writer.write(PollRecord(
        source.id, [*settled, *items],
        announced=[existing is not None for existing in settled_found] + [True] * len(items),
        found=[*settled_found, *[None] * len(items)], plan=plan,
        corrections=correction_policy(config),
        done=PollSuccess(now=now, next_poll_at=now + source.every, etag=result.etag or "",
                         last_modified=result.last_modified or "", items=len(parsed.items),
                         note=_note(problems), parser=parsed.parser,
                         parser_note=parsed.fallback_reason)))
    new = 0
    for _article, is_new in written.articles[len(settled):]:
        if is_new:
            new += 1
        else:
            known += 1
    deliveries = written.deliveries
    for problem in problems:
        log.warning("source %s: %s", source.id, problem)
    metrics.articles_ingested(source.id, new)
    return PollReport(source.id, ok=True, new=new, known=known, backfilled=backfilled,
                      deliveries=deliveries, problems=tuple(problems))


async def _enrich_by(deadline: Deadline, items: list[FeedItem], fetcher: Fetcher, *,
                     mode: str, ready: list[FeedItem] | None = None
                     ) -> list[tuple[FeedItem, str | None]]:
    """Each item completed from its page, or as the feed gave it (with the reason) when its
    page was not in by the deadline: a slow site costs its items their ledes, never the items.
    ``ready``: with mode "never", the items as ``enrich.as_fed`` makes them, already.
    """
    if mode == "never" and ready is not None:
        return [(item, None) for item in ready]
    # Only items whose page is fetched get a task: the rest (every item, with fetch_pages:
    # never) are settled at once; a task each cost more than parsing them.
    if not items:
        return []
    from bot.ingest.enrich import as_fed, enrich, needs_page

    fetched = [mode != "never" and (mode != "auto" or needs_page(i)) for i in items]
    tasks = {index: asyncio.create_task(enrich(i, fetcher, mode=mode, deadline=deadline))
             for index, (i, fetch) in enumerate(zip(items, fetched, strict=True)) if fetch}
    try:
        if tasks:
            await asyncio.wait(tasks.values(), timeout=deadline.remaining() + EXTRACT_GRACE)
    finally:
        for running in tasks.values():
            running.cancel()  # a no-op on those that finished
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    done: list[tuple[FeedItem, str | None]] = []
    for index, item in enumerate(items):
        task = tasks.get(index)
        if task is None and mode == "never":
            done.append((as_fed(item), None))  # as enrich() would, without a coroutine each
        elif task is None:
            done.append(await enrich(item, fetcher, mode=mode, deadline=deadline))
        elif task.cancelled():
            done.append((item, f"page for {item.url!r} not used: not ready within the "
                               f"source's {deadline.seconds:g}s deadline (fetch.source_deadline)"))
        else:
            done.append(task.result())
    return done


async def _check_images(items: list[FeedItem], fetcher: Fetcher,
                        deadline: Deadline) -> list[FeedItem]:
    """Each new item's lead image checked once, before any channel can use it. The sample
    pages (offline mode) never touch the network, so their images are taken as they are."""
    if fetcher.offline_pages is not None or not any(i.image_url for i in items):
        return items
    from bot.ingest.image_check import ImageChecker, check_item_images

    seconds = max(2.0, min(IMAGE_CHECK_TIMEOUT, fetcher.settings.timeout.total_seconds(),
                           deadline.remaining()))
    async with ImageChecker(fetcher.policy, timeout=seconds,
                            user_agent=fetcher.settings.user_agent) as checker:
        return await check_item_images(items, checker)


def _note(problems: list[str]) -> str:
    note = "; ".join(problems)
    if len(note) <= NOTE_CHARS:
        return note
    return note[:NOTE_CHARS].rsplit(" ", 1)[0] + f" … ({len(problems)} notes in all; see the log)"


def due_sources(config: Config, store: CycleStore, *, now: datetime, only_due: bool = True,
                ids: Sequence[str] | None = None,
                states: Mapping[str, SourceState] | None = None) -> list[Source]:
    """The sources to poll now: every one, or those due, or those named. ``states``: the
    sources' states if the caller has just read them (else they are read here, in one query,
    however many sources)."""
    if states is None:
        states = store.source_states() if only_due else {}
    chosen = []
    for source in config.sources:
        if ids is not None and source.id not in ids:
            continue
        if only_due:
            state = states.get(source.id)
            due = state.next_poll_at if state is not None else None
            if due is not None and due > now:
                continue
        chosen.append(source)
    return chosen


async def poll_sources(config: Config, store: CycleStore, *, now: datetime, fetcher: Fetcher,
                       only_due: bool = True, ids: Sequence[str] | None = None,
                       states: Mapping[str, SourceState] | None = None) -> list[PollReport]:
    """Poll every source (or those due, or those named) concurrently; each ends by its
    own deadline, so this ends by the longest one. ``states``: the sources' states if the
    caller has just read them (else they are read here)."""
    if states is None:
        states = store.source_states()  # one query, for choosing the due ones and each poll
    chosen = due_sources(config, store, now=now, only_due=only_due, ids=ids, states=states)
    unchanged: list[tuple[str, PollSuccess]] = []
    writer = PollWriter(store)  # the polls ready together are stored together
    try:
        with polling(len(chosen)):
            return list(await asyncio.gather(*(
                poll_source(s, config=config, store=store, fetcher=fetcher, now=now,
                            state=states.get(s.id, SourceState(s.id)), unchanged=unchanged,
                            writer=writer)
                for s in chosen)))
    finally:
        # The feeds that answered 304 are recorded together: a transaction each cost a
        # commit each (200 feeds: 200 commits for nothing new).
        store.record_poll_successes(unchanged)
