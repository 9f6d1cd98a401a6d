"""What a poll writes, once, for both stores: its items looked up, new articles stored, known
ones refreshed, deliveries and corrections planned, the source's row updated; many feeds'
polls in one transaction, each in a savepoint of its own.

The full store (bot/store/articles.py) runs this over its SQLAlchemy connection, the light
store (bot/store/light.py) over a plain ``sqlite3`` one (bot/store/driver.py): a cold
`newsbot once` on SQLite then stores every new item without importing SQLAlchemy, and the
rows are the same because the code and the statements (bot/store/poll_sql.py) are.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from bot.models import Article, FeedItem, article_of
from bot.store.corrections import insert_corrections
from bot.store.driver import Executor
from bot.store.poll_sql import (
    datetime_binder,
    find_articles_sql,
    insert_articles_sql,
    insert_deliveries,
    insert_rows,
    read_article,
    record_failure_sql,
    refresh_article_sql,
    success_rows,
)
from bot.store.records import PollRecord, PollSuccess, PollWrite

#: A write transaction (BEGIN IMMEDIATE on SQLite ... COMMIT, or ROLLBACK on an exception).
Transaction = Callable[[], AbstractContextManager[Executor]]
#: A poll's failure as ``record_poll`` raises it: a driver's error as StoreError.
Failure = Callable[[Exception], Exception]


def item_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _words(html: str) -> str:
    """A feed summary's words alone: a change of markup or spacing is not a correction."""
    from bot.text import html_to_text  # a poll's write needs it; a read of the store does not

    return " ".join(html_to_text(html).split())


def _keys(items: Sequence[FeedItem]) -> list[tuple[str, str]]:
    """Each item's (url hash, guid hash), for every step of a poll."""
    return [_item_keys(i.url, i.guid) for i in items]


@functools.lru_cache(maxsize=4096)
def _item_keys(url: str, guid: str) -> tuple[str, str]:
    # A poll hashes its items when it looks them up (find_articles, before enrichment) and
    # again when it stores them (record_poll): the second time is a lookup here. 4096 holds
    # the items of the polls in flight at once (16 feeds of 250); beyond, a hash is redone.
    return item_hash(url), item_hash(guid)


@functools.lru_cache(maxsize=256)
def _sections_json(sections: tuple[str, ...]) -> str:
    return json.dumps(list(sections))  # a feed's items mostly share their sections


def _row(item: FeedItem, announced: bool, keys: tuple[str, str],
         bind: Callable[[datetime], Any], bound_now: Any) -> tuple[Any, ...]:
    """A new article's values, in poll_sql.ARTICLE_COLUMNS order, bound for the driver
    (``bound_now``: the poll's time, bound once)."""
    return (item.source_id, item.guid, keys[1], item.url, keys[0], item.title, item.summary,
            item.summary_html, item.text, item.author, _sections_json(item.sections),
            item.language, bind(item.published) if item.published else bound_now, bound_now,
            bound_now, item.image_url, item.image_alt, item.image_problem, announced)


def _new_article(article_id: int, item: FeedItem, now: datetime) -> Article:
    """The Article a new row holds, from the item it was stored from (published_at as the
    feed gave it: the same instant a read gives back in UTC)."""
    return article_of({
        "id": article_id, "source_id": item.source_id, "guid": item.guid, "url": item.url,
        "title": item.title, "summary": item.summary, "text": item.text,
        "author": item.author, "sections": tuple(item.sections), "language": item.language,
        "published_at": item.published or now, "discovered_at": now,
        "image_url": item.image_url, "image_alt": item.image_alt,
        "summary_html": item.summary_html, "image_problem": item.image_problem,
        "corrected_at": None,
    })


def find_many(ex: Executor, items: Sequence[FeedItem],
              keys: Sequence[tuple[str, str]] | None = None) -> list[Article | None]:
    """For each item, the stored article it is (by canonical URL or source+guid). One query
    per 400 items; ``keys`` are the items' (url hash, guid hash) if known."""
    keys = keys if keys is not None else _keys(items)
    by_url: dict[str, Article] = {}
    by_guid: dict[tuple[str, str], Article] = {}
    postgres = ex.dialect == "postgresql"
    for start in range(0, len(items), 400):
        chunk = range(start, min(start + 400, len(items)))
        by_source: dict[str, set[str]] = {}
        for i in chunk:
            by_source.setdefault(items[i].source_id, set()).add(keys[i][1])
        urls = {keys[i][0] for i in chunk}
        params: tuple[str, ...] = (*urls,)
        for source, hashes in by_source.items():
            params += (source, *hashes)
        sql = find_articles_sql(postgres, len(urls),
                                tuple(len(hashes) for hashes in by_source.values()))
        for row in ex.rows(sql, params):
            article = read_article(row)
            by_url[row[5]] = article  # url_hash
            by_guid[(row[1], row[3])] = article  # source_id, guid_hash
    return [by_url.get(url_hash) or by_guid.get((item.source_id, guid_hash))
            for item, (url_hash, guid_hash) in zip(items, keys, strict=True)]


def write_polls(transaction: Transaction, failure: Failure, polls: Sequence[PollRecord]
                ) -> list[PollWrite | Exception]:
    """Many feeds' polls written in one transaction, each in a savepoint of its own (see
    ``Store.record_polls``): each poll's PollWrite, or the exception ``record_poll`` would
    have raised for it alone. Never raises for a poll's own failure."""
    if len(polls) == 1:
        return [_write_alone(transaction, failure, polls[0])]
    outcomes: list[PollWrite | Exception | None] = [None] * len(polls)
    try:
        with transaction() as ex:
            # The driver's own SAVEPOINT statements: SQLAlchemy's begin_nested() compiles
            # a clause for each (a fresh name each time), 80-90 µs a feed instead of 20.
            for index, poll in enumerate(polls):
                ex.execute("SAVEPOINT poll")
                try:
                    written = write_poll(ex, poll)
                except Exception as exc:  # this feed's own failure, for its poll
                    outcomes[index] = failure(exc)
                    ex.execute("ROLLBACK TO SAVEPOINT poll")
                else:
                    outcomes[index] = written
                ex.execute("RELEASE SAVEPOINT poll")
    except Exception:
        # Nothing of the batch was kept: each poll not already failed on its own is
        # written alone, as it would have been without company.
        return [outcome if isinstance(outcome, Exception)
                else _write_alone(transaction, failure, poll)
                for poll, outcome in zip(polls, outcomes, strict=True)]
    return [outcome for outcome in outcomes if outcome is not None]


def _write_alone(transaction: Transaction, failure: Failure, poll: PollRecord
                 ) -> PollWrite | Exception:
    try:
        with transaction() as ex:
            return write_poll(ex, poll)
    except Exception as exc:
        return failure(exc)


def write_poll(ex: Executor, poll: PollRecord) -> PollWrite:
    """Everything one feed's poll writes (``Store.record_poll``), in the caller's
    transaction."""
    done = poll.done
    changed: list[int] = []
    results = store_items(ex, poll.items, now=done.now, announced=poll.announced,
                          found=poll.found, changed=changed)
    fresh = [article for (article, new), told in zip(results, poll.announced, strict=True)
             if new and told]
    deliveries = insert_deliveries(ex, poll.plan(fresh), done.now)
    if poll.corrections is not None and changed:
        deliveries += insert_corrections(ex, changed, now=done.now, policy=poll.corrections)
    record_successes(ex, [(poll.source_id, done)])
    return PollWrite(tuple(results), deliveries)


def record_successes(ex: Executor, polls: Sequence[tuple[str, PollSuccess]]) -> None:
    """One upsert a source for polls that worked (poll_sql.success_rows)."""
    for sql, rows in success_rows(ex.dialect, polls):
        ex.execute_many(sql, rows)


def record_failure(ex: Executor, source_id: str, *, now: datetime, error: str,
                   next_poll_at: datetime) -> int:
    """A failed poll on its source's row; how many polls in a row have failed."""
    bind = datetime_binder(ex.dialect)
    ((failures,),) = ex.rows(record_failure_sql(ex.dialect == "postgresql"),
                             (source_id, bind(now), error, bind(next_poll_at)))
    return int(failures)


def store_items(ex: Executor, items: Sequence[FeedItem], *, now: datetime,
                announced: Sequence[bool], found: Sequence[Article | None] | None = None,
                changed: list[int] | None = None) -> list[tuple[Article, bool]]:
    """Store the items not yet known, refresh those known; each item's article and whether
    it is new, in order (``changed`` gets the known ones whose feed entry was corrected)."""
    keys = _keys(items)
    if found is None:
        found = find_many(ex, items, keys)
    results: list[tuple[Article, bool] | None] = [None] * len(items)
    bind = datetime_binder(ex.dialect)
    bound_now = bind(now)
    fresh: dict[str, tuple[int, tuple[Any, ...]]] = {}
    for index, (item, existing) in enumerate(zip(items, found, strict=True)):
        if existing is not None:
            if refresh(ex, existing, item, now) and changed is not None:
                changed.append(existing.id)
            results[index] = (existing, False)
            continue
        if keys[index][0] in fresh:
            continue  # the same article twice in one feed: the first one counts
        fresh[keys[index][0]] = (index, _row(item, announced[index], keys[index], bind,
                                             bound_now))
    if fresh:
        ids = {url_hash: article_id for article_id, url_hash in insert_rows(
            ex, insert_articles_sql, [row for _, row in fresh.values()])}
        for url_hash, (index, _) in fresh.items():
            if url_hash in ids:
                results[index] = (_new_article(ids[url_hash], items[index], now), True)
    # Items still unresolved: repeated in the batch, or stored by another worker meanwhile.
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        again = find_many(ex, [items[i] for i in missing], [keys[i] for i in missing])
        for index, article in zip(missing, again, strict=True):
            if article is None:
                raise RuntimeError(f"article {items[index].url} was neither stored nor found")
            results[index] = (article, False)
    return [r for r in results if r is not None]


def refresh(ex: Executor, article: Article, item: FeedItem, now: datetime) -> bool:
    """Bring a known article up to date with its feed entry; True when the feed changed
    what its posts said (the title, or the feed's own summary), i.e. a correction."""
    title_changed = bool(item.title) and item.title != article.title
    # The feed's own words decide whether its summary changed: the stored summary may be
    # the page's lede, chosen over a teaser, which the feed's teaser must not overwrite.
    summary_changed = (bool(item.summary_html) and bool(article.summary_html)
                       and item.summary_html != article.summary_html
                       and _words(item.summary_html) != _words(article.summary_html))
    changes: dict[str, Any] = {}
    if title_changed:
        changes["title"] = item.title
    if (item.summary and item.summary != article.summary
            and (summary_changed or not article.summary_html)):
        changes["summary"] = item.summary
    if item.text and not article.text:
        changes["text"] = item.text
    if item.image_url and not article.image_url:
        changes["image_url"] = item.image_url
        changes["image_alt"] = item.image_alt
        changes["image_problem"] = item.image_problem
    if item.summary_html and item.summary_html != article.summary_html:
        changes["summary_html"] = item.summary_html
    if changes:
        changes["updated_at"] = datetime_binder(ex.dialect)(now)
        ex.execute(refresh_article_sql(ex.dialect == "postgresql", tuple(changes)),
                   (*changes.values(), article.id))
    return title_changed or summary_changed
