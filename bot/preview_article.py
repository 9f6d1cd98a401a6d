"""``newsbot preview URL_OR_FILE``: what each channel would post for one article.

The article is a page at a URL, or a file: a saved ``.html`` page, or a scraped ``.txt`` /
``.md`` article (``bot.ingest.plaintext``).

Nothing is stored and nothing is sent: the page is fetched, extracted and rendered through
the template and length rules of each channel whose route takes it (the digest's entry
included), then printed. The route needs the article's source: ``--source ID``, or the
source whose feed is on the page's host.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from bot.channels import post_format
from bot.config import Config, EmailChannel
from bot.ingest.article_file import NotAnArticle, read_article_file
from bot.ingest.extract import extract_page
from bot.ingest.fetch import PAGE_ACCEPT
from bot.ingest.fetch_files import OFFLINE_HOST
from bot.ingest.poll import make_fetcher
from bot.ingest.urls import canonical_url
from bot.models import Article
from bot.plan import route_matches
from bot.render import make_environment, render_post
from bot.text import cut_summary


def guess_source(config: Config, url: str) -> str:
    """The source whose feed lives on ``url``'s host ("" when none, or for a local file)."""
    host = urlsplit(url).hostname or ""
    if not host:
        return ""
    for source in config.sources:
        if source.is_remote and urlsplit(source.url).hostname == host:
            return source.id
    return ""


async def preview_article(config: Config, url_or_file: str, *, echo: TextIO,
                          source: str = "") -> None:
    """Fetch, extract and render one article for each enabled channel whose route takes it."""
    if source and source not in {s.id for s in config.sources}:
        known = ", ".join(s.id for s in config.sources)
        raise LookupError(f"no source has id {source!r} (sources: {known})")
    is_url = url_or_file.startswith(("http://", "https://"))
    async with make_fetcher(config) as fetcher:
        if is_url and fetcher.offline_pages is not None and (
                urlsplit(url_or_file).hostname or "").lower() == OFFLINE_HOST:
            # A sample's page (fetch.offline_pages): a link from the quick start's output
            # previews as it was ingested, without the network.
            result = await fetcher.fetch(url_or_file, source_id="preview", accept=PAGE_ACCEPT)
        else:
            # The operator typed it, so it is trusted like a source (a local file is fine).
            result = await fetcher.fetch_source(url_or_file, source_id="preview",
                                                accept=PAGE_ACCEPT)
    if is_url:
        url = canonical_url(url_or_file)
        page = extract_page(result.body, url)
    else:
        # A saved page, or a scraped .txt / .md article: its own URL line or canonical link
        # names it; the file's path is only the fallback, and never its headline.
        path = Path(url_or_file)
        try:
            found = read_article_file(result.body, path.name, base_url=path.resolve().as_uri())
        except NotAnArticle as exc:
            raise NotAnArticle(f"{url_or_file} cannot be previewed: {exc}") from None
        page = found.page
        url = canonical_url(found.url) if found.url else path.resolve().as_uri()
    now = datetime.now(UTC)
    source = source or guess_source(config, url)
    language = page.language or next(
        (s.language for s in config.sources if s.id == source), "")
    article = Article(
        id=0, source_id=source or "preview", guid=url, url=url, title=page.title or url,
        summary=page.lede, text=page.text, author="", sections=(), language=language,
        published_at=now, discovered_at=now, image_url=page.image_url,
        image_alt=page.image_alt,
    )
    env = make_environment(config)
    echo.write(f"{article.title}\n{url}\n"
               f"source: {source or 'unknown: routes are matched without their sources '}"
               f"{'' if source else '(give --source ID to match them too)'}\n")
    skipped: list[str] = []
    for name, cfg in config.channels.items():
        if not cfg.enabled:
            continue
        # Without a known source, a route's sources cannot be judged: the rest of it is.
        route = cfg.route if source else cfg.route.model_copy(update={"sources": ()})
        if not route_matches(article, route):
            skipped.append(name)
            continue
        if isinstance(cfg, EmailChannel):
            echo.write(f"\n── {name} (email digest entry, sent on cron {cfg.schedule.cron}) "
                       + "─" * 20 + f"\n{article.title}\n")
            if article.summary:
                echo.write(f"{cut_summary(article.summary, cfg.summary_chars)}\n")
            echo.write(f"{article.url}\n")
            continue
        post = render_post(env, article, channel=name, cfg=cfg, fmt=post_format(cfg),
                           zone=config.zone_for(name))
        echo.write(f"\n── {name} ({cfg.type}) " + "─" * 40 + f"\n{post.text}\n")
        if post.image_url:
            echo.write(f"[image: {post.image_url}]\n")
        for number, reply in enumerate(post.thread, start=2):
            echo.write(f"--- reply {number} ---\n{reply}\n")
    if skipped:
        echo.write(f"\nnot routed to: {', '.join(skipped)} (their route does not take this "
                   "article; see `newsbot check`)\n")
