"""What a digest carries and how it is grouped: pure functions over stored articles."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import nh3
from markupsafe import Markup

from bot.config import EmailChannel
from bot.models import Article
from bot.render import ArticleView, article_view
from bot.text import cut_summary, html_to_text

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


def summary_as_html(article: Article, summary: str) -> Markup:
    """``summary`` (the chosen one) as clean HTML. The feed's HTML is used only when it says
    the same thing in full: a feed's one-line teaser never replaces the lede the text part,
    Telegram and X show."""
    if not summary:
        return Markup("")
    if article.summary_html and summary == article.summary and \
            _words(html_to_text(article.summary_html)) == _words(summary):
        return sanitize_html(article.summary_html)
    paragraphs = [p.strip() for p in summary.split("\n\n") if p.strip()]
    return sanitize_html("".join(f"<p>{html.escape(p)}</p>" for p in paragraphs))


def _words(text: str) -> str:
    return "".join(text.split())  # HTML's whitespace is loose: compare what is written


def trim(digest: Digest, keep: int) -> Digest:
    """``digest`` with only its first ``keep`` articles (in reading order); the rest are
    counted in ``more``, linked from the first of them."""
    groups: list[DigestGroup] = []
    left = keep
    first_dropped = ""
    for group in digest.groups:
        kept = group.articles[:max(left, 0)]
        if len(kept) < len(group.articles) and not first_dropped:
            first_dropped = group.articles[len(kept)].article.url
        left -= len(kept)
        if kept:
            groups.append(replace(group, articles=kept))
    return replace(digest, groups=tuple(groups), more=digest.article_count - keep,
                   more_url=first_dropped)


def _safe_image(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://")) else None


#: A digest entry's summary, at most (cut at a sentence or word boundary).
DIGEST_SUMMARY_CHARS = 400


@dataclass(frozen=True)
class DigestArticle:
    """One article as digest templates see it."""

    article: ArticleView
    # The summary Telegram and X use (the lede), cut to fit; both parts show this one.
    summary: str
    # The same summary as HTML cleaned by nh3: the feed's own markup (its links) when it
    # says exactly that, else the text in paragraphs. "" when there is no summary.
    summary_html: Markup
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
    # Articles left out of the HTML part to keep it under Gmail's clipping size (the text
    # part carries them all), and where the "N more articles" link goes.
    more: int = 0
    more_url: str = ""

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
        summary = cut_summary(article.summary, min(cfg.summary_chars, DIGEST_SUMMARY_CHARS))
        groups.setdefault(key, []).append(DigestArticle(
            article=view, summary=summary, summary_html=summary_as_html(article, summary),
            image_url=_safe_image(article.usable_image_url),
            rtl=view.rtl,
        ))
    return Digest(
        channel=channel, title=cfg.title,
        date=scheduled_for.astimezone(zone).strftime("%Y-%m-%d"), scheduled_for=scheduled_for,
        groups=tuple(DigestGroup(title=k, articles=tuple(v), rtl=all(a.rtl for a in v))
                     for k, v in groups.items()),
    )
