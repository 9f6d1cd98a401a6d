"""Rendering posts from Jinja2 templates, fitted to each platform's length rules.

Templates live in the bundled ``templates/`` folder; an editor's ``templates_dir`` overrides
files by name. HTML templates are autoescaped and every template is strict: a typo'd variable
is an error that names the template and line, never an empty string in a subscriber's post.
"""

from __future__ import annotations

import html
import itertools
import re
import sys
import traceback
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from bot.channels.base import PostFormat
from bot.channels.registry import platform_for
from bot.config import DIGEST_TYPE, ChannelConfig, Config
from bot.errors import TemplateError
from bot.models import Article, RenderedPost
from bot.text import clean_title, cut_summary, split_sentences


def _bundled_templates() -> Path:
    """The repo's templates/ (source checkout, editable install), else the copy a regular
    install puts under <prefix>/share/newsbot/templates."""
    beside = Path(__file__).resolve().parent.parent / "templates"
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "newsbot" / "templates"


BUNDLED_TEMPLATES = _bundled_templates()
#: The digest's templates (a folder holding the HTML and text parts); see bot/digest/.
DIGEST_TEMPLATE = "email/digest"


def default_template(cfg: ChannelConfig) -> str:
    """The template a channel uses when config.yaml names none."""
    if cfg.type == DIGEST_TYPE:
        return DIGEST_TEMPLATE
    return platform_for(cfg).default_template

_RTL_LANGUAGES = {"ar", "fa", "he", "ur", "ps", "ku", "yi", "dv", "sd", "ug"}


def is_rtl(language: str) -> bool:
    return language.split("-")[0].lower() in _RTL_LANGUAGES


def hashtag(text: str) -> str:
    """"Breaking News" → "#BreakingNews"; letters and digits of any script are kept.

    Capitals show where a word starts only in scripts with case: the words of a script
    without (Arabic, Hebrew, CJK…) are joined with "_", "الشرق الأوسط" → "#الشرق_الأوسط".
    """
    words = re.findall(r"[^\W_]+", unicodedata.normalize("NFC", text))
    if not words:
        return ""
    tag = words[0][:1].upper() + words[0][1:]
    for before, word in itertools.pairwise(words):
        joint = "" if _shows_case(before) and _shows_case(word) else "_"
        tag += joint + word[:1].upper() + word[1:]
    return f"#{tag}" if not tag.replace("_", "").isdigit() else ""


def _shows_case(word: str) -> bool:
    first = word[:1]
    return first.isdigit() or first.upper() != first.lower()


def _localtime(value: datetime, fmt: str = "%Y-%m-%d %H:%M", zone: str | None = None) -> str:
    if zone:
        value = value.astimezone(ZoneInfo(zone))
    return value.strftime(fmt)


def _autoescape(name: str | None) -> bool:
    return bool(name) and str(name).endswith((".html", ".html.j2", ".htm"))


def template_dirs(config: Config) -> list[Path]:
    """Where templates are looked up, in order: the editors' folder, then the bundled one."""
    dirs: list[Path] = []
    if config.templates_dir:
        dirs.append(config.resolve_path(config.templates_dir))
    local = config.base_dir / "templates"
    if local.is_dir() and local.resolve() != BUNDLED_TEMPLATES:
        dirs.append(local)
    dirs.append(BUNDLED_TEMPLATES)
    return dirs


def make_environment(config: Config) -> jinja2.Environment:
    """The one Jinja2 environment every template renders in."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(config)]),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["hashtag"] = hashtag
    env.filters["localtime"] = _localtime
    env.globals["timezone"] = config.timezone
    return env


def _template_line(exc: BaseException, name: str) -> str:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename and frame.filename.replace("\\", "/").endswith(name):
            return f", line {frame.lineno}"
    return ""


def render_template(env: jinja2.Environment, name: str, context: dict[str, Any],
                    *, channel: str = "") -> str:
    """Render ``name``; any failure becomes a TemplateError naming channel, template, line."""
    where = f"channel {channel}: " if channel else ""
    try:
        template = env.get_template(name)
        return template.render(context).strip()
    except jinja2.TemplateNotFound as exc:
        searched = ", ".join(str(p) for p in getattr(env.loader, "searchpath", []))
        raise TemplateError(
            f"{where}template {exc.name!r} not found (looked in {searched})") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{where}template {exc.name or name!r}, line {exc.lineno}: {exc.message}"
        ) from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"{where}template {name!r}{_template_line(exc, name)}: {exc.message}; "
            "see the templates reference in README.md for the variables available"
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise TemplateError(f"{where}template {name!r}{_template_line(exc, name)}: {exc}") from None


@dataclass(frozen=True)
class ArticleView:
    """What templates see as ``article``: the stored article, times in the channel's zone."""

    id: int
    title: str
    url: str
    summary: str
    text: str
    sections: tuple[str, ...]
    section: str
    author: str
    language: str
    source: str
    published: datetime
    image_url: str | None
    image_alt: str
    rtl: bool
    updated: bool = False  # the feed corrected its title or summary after it was posted


def article_view(article: Article, zone: ZoneInfo) -> ArticleView:
    return ArticleView(
        id=article.id, title=clean_title(article.title), url=article.url, summary=article.summary,
        text=article.text, sections=article.sections,
        section=article.sections[0] if article.sections else "", author=article.author,
        language=article.language, source=article.source_id,
        published=article.published_at.astimezone(zone),
        image_url=article.usable_image_url,
        image_alt=article.image_alt or article.title, rtl=is_rtl(article.language),
        updated=article.corrected_at is not None,
    )


def render_post(env: jinja2.Environment, article: Article, *, channel: str,
                cfg: ChannelConfig, fmt: PostFormat, zone: ZoneInfo,
                note: str = "") -> RenderedPost:
    """Render the channel's template for ``article``, shortened until ``fmt`` accepts it.

    Optional hashtags are dropped first, then the summary is cut at a sentence or word
    boundary; the title is cut only as a last resort and the link is always kept. ``note``
    (a correction's "Updated") ends the post on a line of its own, and counts towards its
    length.
    """
    name = cfg.template or default_template(cfg)
    view = article_view(article, zone)
    # An image that failed its check at ingest is never attached: the post goes as text.
    media = fmt.media and bool(article.usable_image_url)
    tags = [t for t in dict.fromkeys(hashtag(s) for s in article.sections) if t][:fmt.hashtags]
    full = cut_summary(article.summary, cfg.summary_chars)

    ending = ""
    if note:
        ending = f"\n\n<i>{html.escape(note, quote=False)}</i>" if fmt.markup == "html" else (
            f"\n\n{note}")

    def attempt(summary: str, hashtags: list[str], title: str | None = None) -> str:
        shown = view if title is None else _replace_title(view, title)
        return render_template(env, name, {
            "article": shown, "summary": summary, "link": article.url, "hashtags": hashtags,
            "channel": channel, "rtl": view.rtl,
        }, channel=channel) + ending

    def fits(text: str) -> bool:
        return fmt.fits(text, with_media=media)

    text = attempt(full, tags)
    if not fits(text) and fmt.threads:
        threaded = _thread(article.summary, tags, attempt, fits, fmt.thread_parts)
        if threaded is not None:
            text, thread = threaded
            return RenderedPost(
                channel=channel, article_id=article.id, text=text, link=article.url,
                image_url=article.image_url if media else None, image_alt=view.image_alt,
                thread=thread, language=article.language)
    all_tags = tags
    if not fits(text):
        while tags and not fits(text):
            tags = tags[:-1]
            text = attempt(full, tags)
        if not fits(text):
            summary_used, text = _largest_fitting(
                lambda n: cut_summary(full, n), len(full), lambda s: attempt(s, []), fits)
            # The cut (at a sentence end when it can) often leaves room: hashtags are
            # dropped only when they do not fit beside the shortened summary.
            for keep in range(len(all_tags), 0, -1):
                candidate = attempt(summary_used, all_tags[:keep])
                if fits(candidate):
                    text = candidate
                    break
        if not fits(text):
            _, text = _largest_fitting(
                lambda n: cut_summary(view.title, n), len(view.title),
                lambda t: attempt("", [], title=t), fits)
            if not fits(text):
                raise TemplateError(
                    f"channel {channel}: template {name!r} renders a post too long for the "
                    "platform even with no summary and no title; shorten the template")
    return RenderedPost(
        channel=channel, article_id=article.id, text=text, link=article.url,
        image_url=article.image_url if media else None, image_alt=view.image_alt,
        language=article.language,
    )


#: Room kept in every thread part for its number, " (12/12)" at the most.
_PART_NUMBER_ROOM = " (99/99)"


def _thread(summary: str, tags: list[str], attempt: Callable[[str, list[str]], str],
            fits: Callable[[str], bool], splitter: Callable[..., tuple[str, ...]]
            ) -> tuple[str, tuple[str, ...]] | None:
    """A long summary as a numbered thread: (first post, replies), or None when not even
    its first sentence fits a first post.

    The first post takes as many whole sentences as fit beside the title, the hashtags (kept
    while any sentence fits with them) and the link; the replies carry the rest, cut at
    sentence ends. Every part ends with its number, " (1/3)", so none reads as broken.
    """
    sentences = split_sentences(summary)
    for keep in range(len(tags), -1, -1):
        count = 0
        while count < len(sentences) and fits(attempt(
                " ".join(sentences[:count + 1]) + _PART_NUMBER_ROOM, tags[:keep])):
            count += 1
        if count:
            break
    else:
        return None
    first = " ".join(sentences[:count])
    replies = splitter(" ".join(sentences[count:]), reserve=_PART_NUMBER_ROOM)
    if not replies:
        return attempt(first, tags[:keep]), ()
    total = len(replies) + 1
    return (attempt(f"{first} (1/{total})", tags[:keep]),
            tuple(f"{part} ({number}/{total})" for number, part in enumerate(replies, 2)))


def with_edited_text(post: RenderedPost, edited: str) -> RenderedPost:
    """``post`` with an editor's own text (checked against the platform when it was saved)
    in place of the template's; the editor's text is the whole post, so no thread follows."""
    if not edited:
        return post
    from dataclasses import replace

    return replace(post, text=edited, thread=())


def _replace_title(view: ArticleView, title: str) -> ArticleView:
    from dataclasses import replace

    return replace(view, title=title)


def _largest_fitting(cut: Callable[[int], str], size: int, render: Callable[[str], str],
                     fits: Callable[[str], bool]) -> tuple[str, str]:
    """Binary search for the longest cut whose rendering fits; returns (piece, rendering)."""
    low, high = 0, size
    best_piece = cut(0)
    best = render(best_piece)
    while low <= high:
        mid = (low + high) // 2
        piece = cut(mid)
        rendered = render(piece)
        if fits(rendered):
            best_piece, best = piece, rendered
            low = mid + 1
        else:
            high = mid - 1
    return best_piece, best
