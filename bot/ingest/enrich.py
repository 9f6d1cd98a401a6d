"""Fill in an item from its article page when the feed gave too little."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Literal

from bot.errors import SourceError
from bot.ingest.debris import Known, is_debris, strip_run_on
from bot.ingest.teaser import clean_collapsed, is_teaser
from bot.models import FeedItem

if TYPE_CHECKING:
    # The parser process imports this module for ``as_fed`` alone: it fetches nothing, so
    # it does not load the HTTP client (``enrich`` imports what it fetches with).
    from bot.ingest.fetch import Deadline, Fetcher

Mode = Literal["auto", "always", "never"]

USABLE_SUMMARY = 80  # characters: a shorter feed summary is a teaser, not a summary


def needs_page(item: FeedItem) -> bool:
    """True when the feed's summary cannot stand as a post's summary on its own: empty,
    shorter than ~80 characters, the title again, or a teaser (``bot.ingest.teaser``)."""
    summary = " ".join(item.summary.split())
    if len(summary) < USABLE_SUMMARY:
        return True
    title = " ".join(item.title.split()).casefold().rstrip(".…")
    folded = summary.casefold().rstrip(".…")
    if title and (folded == title or title.startswith(folded)):
        return True
    return is_teaser(summary)


def tidy_summary(item: FeedItem) -> FeedItem:
    """The feed's summary without what a feed's HTML puts before the story: a photo caption,
    a byline, a date line, the headline again (never emptied: one paragraph always stays)."""
    known = Known(titles=(item.title,) if item.title else (),
                  authors=(item.author,) if item.author else ())
    if "\n\n" not in item.summary:
        # One paragraph (most feed summaries): nothing before it to drop, no list to build.
        if not item.summary.strip():
            return item
        tidied = strip_run_on(item.summary, known)
        if tidied == item.summary:
            return item
        return dataclasses.replace(item, summary=tidied, summary_html="")
    paragraphs = [p for p in item.summary.split("\n\n") if p.strip()]
    if not paragraphs:
        return item
    kept = list(paragraphs)
    while len(kept) > 1 and is_debris(kept[0], known):
        kept.pop(0)
    kept[0] = strip_run_on(kept[0], known)
    if kept == paragraphs:
        return item
    # The feed's HTML still holds what was cut: the digest shows the tidied text instead.
    return dataclasses.replace(item, summary="\n\n".join(kept), summary_html="")


def _as_fed(item: FeedItem) -> FeedItem:
    """The item with the feed's own summary, a teaser's end made clean (whole word + …)."""
    collapsed = " ".join(item.summary.split())
    cleaned = clean_collapsed(collapsed)
    if cleaned == collapsed:
        return item
    # The feed's HTML still ends in "…Read more »": the digest shows the cleaned text.
    return dataclasses.replace(item, summary=cleaned, summary_html="")


def as_fed(item: FeedItem) -> FeedItem:
    """What ``enrich`` gives with mode "never": the feed's summary tidied
    (``tidy_summary``), a teaser's end made clean."""
    return _as_fed(tidy_summary(item))


async def enrich(item: FeedItem, fetcher: Fetcher, *, mode: str,
                 deadline: Deadline | None = None) -> tuple[FeedItem, str | None]:
    """Return ``item`` completed from its page, and a problem string if the page failed.

    ``mode``: "never" never fetches; "always" fetches the page; "auto" fetches it only when
    the summary is not usable (``needs_page``: empty, short, the title again, or a teaser).
    From the page: its lede replaces a summary that is unusable or a teaser (also one that
    turns out to be the lede's first words), its text becomes the item's text, and its
    og:image replaces a missing image or one only found in the feed's HTML. A teaser that is
    kept (mode "never", or the page failed) ends cleanly: whole word and one "…". Fetch and
    extraction failures never raise: the reason is the second value. ``deadline``: the
    source's (see ``Fetcher.fetch``); a page not in by then is such a failure.
    """
    if mode == "never":
        return as_fed(item), None
    item = tidy_summary(item)
    if mode == "auto" and not needs_page(item):
        return item, None
    if mode not in ("auto", "always"):
        raise ValueError(f"fetch_pages mode must be auto, always or never, not {mode!r}")
    from bot.ingest.fetch import PAGE_ACCEPT

    try:
        result = await fetcher.fetch(item.url, source_id=item.source_id, accept=PAGE_ACCEPT,
                                     deadline=deadline)
    except SourceError as exc:
        return _as_fed(item), f"page for {item.url!r} not used: {exc.problem}"
    if result.status != "ok" or not result.body:
        return _as_fed(item), f"page for {item.url!r} not used: the server sent no body"
    # Imported on the first page: trafilatura takes a third of a second to load, and a poll
    # with fetch_pages: never (or no new item) never needs it.
    from bot.ingest.extract import extract_page

    try:
        # trafilatura is CPU-bound (a few ms per page): keep the event loop responsive.
        page = await asyncio.to_thread(extract_page, result.body, result.url)
    except Exception as exc:  # an extractor bug must not lose the item
        return _as_fed(item), f"page for {item.url!r} not used: extraction failed ({exc})"
    if not page.lede and not page.text:
        return _as_fed(item), f"page for {item.url!r} not used: no article text found on it"
    changes: dict[str, object] = {}
    if page.lede and (needs_page(item) or is_teaser(item.summary, page.lede)):
        # The feed's own summary, when it is one (not a teaser), is the editors' and stays.
        changes["summary"] = page.lede
        changes["summary_html"] = ""
    elif item.summary != _as_fed(item).summary:
        changes["summary"], changes["summary_html"] = _as_fed(item).summary, ""
    if page.text:
        changes["text"] = page.text
    if page.image_url and (item.image_url is None or item.image_from_html):
        # The page's declared og:image beats whatever <img> the feed's HTML held.
        changes["image_url"] = page.image_url
        changes["image_alt"] = page.image_alt
        changes["image_from_html"] = False
    if not item.language and page.language:
        changes["language"] = page.language
    return dataclasses.replace(item, **changes), None  # type: ignore[arg-type]
