"""What a digest carries and how it is grouped: pure functions over stored articles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import nh3
from markupsafe import Markup

from bot.config import EmailChannel
from bot.models import Article
from bot.render import ArticleView, article_view

#: Feed HTML that may reach a message: formatting and links only. nh3 (ammonia) also drops
#: every on* attribute, style, and any URL whose scheme is not listed here.
_TAGS = {"a", "b", "strong", "i", "em", "u", "s", "p", "br", "ul", "ol", "li", "blockquote",
         "code", "pre", "sub", "sup", "small", "span"}
_ATTRIBUTES = {"a": {"href", "title"}}
_SCHEMES = {"http", "https", "mailto"}


def sanitize_html(html: str) -> Markup:
    """Feed HTML made safe for an email body (no script, iframe, handler, javascript:)."""
    return Markup(nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_SCHEMES,
                            link_rel="noopener noreferrer", strip_comments=True))


def _safe_image(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class DigestArticle:
    """One article as digest templates see it."""

    article: ArticleView
    summary_html: Markup  # sanitised feed HTML, or "" (templates fall back to the text)
    image_url: str | None  # http(s) only
    rtl: bool


@dataclass(frozen=True)
class DigestGroup:
    title: str  # the section or source name; "" when not grouped
    articles: tuple[DigestArticle, ...]
    rtl: bool  # every article in it is right-to-left


@dataclass(frozen=True)
class Digest:
    channel: str
    title: str
    date: str  # the scheduled day, in the channel's time zone
    scheduled_for: datetime
    groups: tuple[DigestGroup, ...]

    @property
    def article_count(self) -> int:
        return sum(len(g.articles) for g in self.groups)


def build_digest(channel: str, cfg: EmailChannel, articles: Sequence[Article], *,
                 scheduled_for: datetime, zone: ZoneInfo) -> Digest:
    """Group ``articles`` (by section, source or not at all), newest first inside each
    group, groups ordered by their newest article."""
    ordered = sorted(articles, key=lambda a: (a.published_at, a.id), reverse=True)
    groups: dict[str, list[DigestArticle]] = {}
    for article in ordered:
        view = article_view(article, zone)
        if cfg.group_by == "section":
            key = view.section
        elif cfg.group_by == "source":
            key = view.source
        else:
            key = ""
        groups.setdefault(key, []).append(DigestArticle(
            article=view,
            summary_html=sanitize_html(article.summary_html) if article.summary_html
            else Markup(""),
            image_url=None if article.image_problem else _safe_image(article.image_url),
            rtl=view.rtl,
        ))
    return Digest(
        channel=channel, title=cfg.title,
        date=scheduled_for.astimezone(zone).strftime("%Y-%m-%d"), scheduled_for=scheduled_for,
        groups=tuple(DigestGroup(title=k, articles=tuple(v), rtl=all(a.rtl for a in v))
                     for k, v in groups.items()),
    )
