"""Fill in an item from its article page when the feed gave too little."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Literal

from bot.errors import SourceError
from bot.ingest.extract import extract_page
from bot.ingest.fetch import PAGE_ACCEPT, Deadline, Fetcher
from bot.models import FeedItem

Mode = Literal["auto", "always", "never"]

USABLE_SUMMARY = 80  # characters: a shorter feed summary is a teaser, not a summary


def needs_page(item: FeedItem) -> bool:
    """True when the feed's summary cannot stand as a post's summary on its own."""
    summary = " ".join(item.summary.split())
    if len(summary) < USABLE_SUMMARY:
        return True
    title = " ".join(item.title.split()).casefold().rstrip(".…")
    folded = summary.casefold().rstrip(".…")
    return bool(title) and (folded == title or title.startswith(folded))


async def enrich(item: FeedItem, fetcher: Fetcher, *, mode: str,
                 deadline: Deadline | None = None) -> tuple[FeedItem, str | None]:
    """Return ``item`` completed from its page, and a problem string if the page failed.

    ``mode``: "never" returns the item as is; "always" fetches the page; "auto" fetches it
    only when the summary is not usable (empty, shorter than ~80 characters, or the title
    again). From the page: summary = its lede (when there is one), text = its full text, and
    the image when the item had none. Fetch and extraction failures never raise: the item is
    returned unchanged with the reason as the second value. ``deadline``: the source's
    (see ``Fetcher.fetch``); a page not in by then is such a failure.
    """
    if mode == "never" or (mode == "auto" and not needs_page(item)):
        return item, None
    if mode not in ("auto", "always"):
        raise ValueError(f"fetch_pages mode must be auto, always or never, not {mode!r}")
    try:
        result = await fetcher.fetch(item.url, source_id=item.source_id, accept=PAGE_ACCEPT,
                                     deadline=deadline)
    except SourceError as exc:
        return item, f"page for {item.url!r} not used: {exc.problem}"
    if result.status != "ok" or not result.body:
        return item, f"page for {item.url!r} not used: the server sent no body"
    try:
        # trafilatura is CPU-bound (a few ms per page): keep the event loop responsive.
        page = await asyncio.to_thread(extract_page, result.body, result.url)
    except Exception as exc:  # an extractor bug must not lose the item
        return item, f"page for {item.url!r} not used: extraction failed ({exc})"
    if not page.lede and not page.text:
        return item, f"page for {item.url!r} not used: no article text found on it"
    changes: dict[str, object] = {}
    if page.lede:
        changes["summary"] = page.lede
    if page.text:
        changes["text"] = page.text
    if item.image_url is None and page.image_url:
        changes["image_url"] = page.image_url
        changes["image_alt"] = page.image_alt
    if not item.language and page.language:
        changes["language"] = page.language
    return dataclasses.replace(item, **changes), None  # type: ignore[arg-type]
