"""What each channel would post for one article, drawn as the reader will see it.

- Telegram: the post's HTML as Telegram shows it (only its own tags survive), with the
  length after parsing in UTF-16 units against 4096, or 1024 when it goes as a photo caption.
- X: the text with its twitter-text weighted count (every link 23) against 280, and the image
  with its alt text when the channel attaches one.
- Email digest: the article's entry, and the whole next digest as subscribers would get it
  (shown in a sandboxed ``srcdoc`` iframe by the page).

An editor's own text, when the delivery has one, is what is shown and measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import nh3
from markupsafe import Markup, escape

from bot.channels import post_format
from bot.channels.base import TextMeasure
from bot.config import Config, EmailChannel
from bot.errors import NewsbotError
from bot.models import Article, Delivery
from bot.render import make_environment, render_post, with_edited_text
from bot.store import Store

# Telegram's HTML parse mode, as a browser may show it.
_TG_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre",
            "blockquote", "a", "span", "tg-spoiler"}
_TG_ATTRIBUTES = {"a": {"href"}, "span": {"class"}}


@dataclass(frozen=True)
class PostPreview:
    """One delivery's post as its platform would show it."""

    delivery: Delivery
    kind: str  # the channel's type: telegram | x | email
    text: str  # the text that would be sent (an editor's, or the template's)
    shown: Markup  # safe HTML for the page
    measure: TextMeasure | None
    image_url: str | None
    image_alt: str
    thread: tuple[str, ...] = ()
    edited: bool = False
    template_text: str = ""  # what the template gives, to start an edit from
    problem: str = ""  # rendering failed: the template error

    @property
    def id(self) -> int:
        return self.delivery.id

    @property
    def actions(self) -> tuple[str, ...]:
        from bot.desk.actions import buttons_for

        return buttons_for(self.delivery)

    @property
    def editable(self) -> bool:
        return self.kind not in ("email", "removed") and self.delivery.status.value in (
            "pending", "awaiting", "held")


def telegram_as_shown(markup: str) -> Markup:
    """Telegram HTML drawn in a browser: its tags kept, everything else dropped, newlines
    as line breaks."""
    clean = nh3.clean(markup, tags=_TG_TAGS, attributes=_TG_ATTRIBUTES,
                      url_schemes={"http", "https", "tg", "mailto"},
                      link_rel="noopener noreferrer nofollow", strip_comments=True)
    return Markup(clean.replace("\n", "<br>\n"))


def x_as_shown(text: str) -> Markup:
    return Markup(str(escape(text)).replace("\n", "<br>\n"))


def preview_delivery(config: Config, article: Article, delivery: Delivery) -> PostPreview:
    cfg = config.channels.get(delivery.channel)
    if cfg is None:
        return PostPreview(delivery, "removed", "", Markup(""), None, None, "",
                           problem="this channel is no longer in config.yaml")
    if isinstance(cfg, EmailChannel):
        entry = Markup("<h3>{}</h3><p>{}</p>").format(article.title, article.summary)
        return PostPreview(delivery, "email", article.summary, entry, None,
                           article.usable_image_url, article.image_alt)
    fmt = post_format(cfg)
    try:
        rendered = render_post(make_environment(config), article, channel=delivery.channel,
                               cfg=cfg, fmt=fmt, zone=config.zone_for(delivery.channel))
    except NewsbotError as exc:
        return PostPreview(delivery, cfg.type, delivery.edited_text, x_as_shown(
            delivery.edited_text), None, None, "", problem=str(exc))
    post = with_edited_text(rendered, delivery.edited_text)
    media = post_format(cfg).media and bool(article.usable_image_url)
    shown = telegram_as_shown(post.text) if fmt.markup == "html" else x_as_shown(post.text)
    return PostPreview(delivery, cfg.type, post.text, shown,
                       fmt.measure(post.text, with_media=media), post.image_url,
                       post.image_alt, post.thread, bool(delivery.edited_text), rendered.text)


def measure_text(config: Config, store: Store, delivery: Delivery, text: str) -> TextMeasure:
    """How the platform would count ``text`` as this delivery's post (photo or not)."""
    cfg = config.channels[delivery.channel]
    article = store.get_article(delivery.article_id)
    media = post_format(cfg).media and bool(article.usable_image_url)
    return post_format(cfg).measure(text, with_media=media)


def next_digest_html(config: Config, store: Store, channel: str, *, now: datetime
                     ) -> tuple[str, int]:
    """The next digest of ``channel`` as it stands (HTML body, article count)."""
    from bot.digest.commands import next_digest

    digest, rendered = next_digest(config, store, channel, now)
    html = rendered.html.replace(rendered.marker_unsubscribe, "#unsubscribe").replace(
        rendered.marker_email, "reader@example.org")
    return html, digest.article_count
