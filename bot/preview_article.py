"""``newsbot preview URL_OR_FILE``: what each channel would post for one article.

The article is a page at a URL, or a file: a saved ``.html`` page, or a scraped ``.txt`` /
``.md`` article (``bot.ingest.plaintext``).

Nothing is stored and nothing is sent: the page is fetched, extracted and rendered through
every post channel's template and length rules, then printed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.channels import post_format
from bot.config import Config
from bot.ingest.article_file import NotAnArticle, read_article_file
from bot.ingest.extract import extract_page
from bot.ingest.poll import make_fetcher
from bot.ingest.urls import canonical_url
from bot.models import Article
from bot.render import make_environment, render_post


async def preview_article(config: Config, url_or_file: str, *, echo: TextIO) -> None:
    """Fetch, extract and render one article for every enabled post channel."""
    is_url = url_or_file.startswith(("http://", "https://"))
    async with make_fetcher(config) as fetcher:
        # The operator typed it, so it is trusted like a source (a local file is fine).
        result = await fetcher.fetch_source(url_or_file, source_id="preview",
                                            accept="text/html,application/xhtml+xml")
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
    article = Article(
        id=0, source_id="preview", guid=url, url=url, title=page.title or url,
        summary=page.lede, text=page.text, author="", sections=(), language=page.language,
        published_at=now, discovered_at=now, image_url=page.image_url,
        image_alt=page.image_alt,
    )
    env = make_environment(config)
    echo.write(f"{article.title}\n{url}\n")
    for name, cfg in config.channels.items():
        if not cfg.enabled or cfg.type == "email":
            continue
        post = render_post(env, article, channel=name, cfg=cfg, fmt=post_format(cfg),
                           zone=config.zone_for(name))
        echo.write(f"\n── {name} ({cfg.type}) " + "─" * 40 + f"\n{post.text}\n")
        if post.image_url:
            echo.write(f"[image: {post.image_url}]\n")
        for number, reply in enumerate(post.thread, start=2):
            echo.write(f"--- reply {number} ---\n{reply}\n")
