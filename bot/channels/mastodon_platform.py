"""Mastodon as the core sees it: its settings, length rules and capabilities.

Neither Mastodon.py nor the counting rules are imported here (config loading imports this
module); the sender is bot/channels/mastodon.py, loaded on the first send.

No ``Pace``: an account may post 300 statuses in any 3 hours (a sustained post every 36 s,
bursts allowed) and upload 30 images in 30 minutes, far beyond any newsroom's schedule, which
the editors set with ``schedule.min_gap``. A fixed interval would only slow a catch-up after
an outage; when a limit is reached Mastodon's 429 says when it resets and the post waits
until then (bot/channels/mastodon.py), image included.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr

from bot.channels.platform import Capabilities, Platform
from bot.config.base import Duration
from bot.config.channel import ChannelSettings

if TYPE_CHECKING:
    from bot.channels.mastodon_length import MastodonFormat


class MastodonChannel(ChannelSettings):
    type: Literal["mastodon"]
    access_token: SecretStr | None = None
    api_url: str  # the instance, e.g. https://mastodon.social
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    language: str | None = None  # when the post's front matter gives none
    spoiler_text: str = ""  # a content warning on every post (front matter may override)
    media: bool = True  # upload the lead image with its alt text
    hashtags: int = Field(default=3, ge=0)
    max_characters: int | None = Field(default=None, ge=1)  # None: the instance's limit
    timeout: Duration = timedelta(seconds=20)


def make_format(cfg: MastodonChannel) -> MastodonFormat:
    """Mastodon's length rules for this channel's instance (see mastodon_length)."""
    from bot.channels.mastodon_length import MastodonFormat

    return MastodonFormat(api_url=cfg.api_url, max_characters=cfg.max_characters,
                          spoiler=cfg.spoiler_text, media=cfg.media, hashtags=cfg.hashtags)


def destination(cfg: MastodonChannel) -> str:
    return f"{cfg.visibility} posts on {cfg.api_url}"


PLATFORM = Platform(
    type="mastodon",
    settings=MastodonChannel,
    default_template="mastodon/post.txt.j2",
    credentials=("access_token",),
    make_format=make_format,
    sender="bot.channels.mastodon:make_channel",
    # Every status carries an Idempotency-Key, so a send whose answer was lost is retried
    # safely; a sent status is corrected in place with PUT /api/v1/statuses/:id.
    capabilities=Capabilities(photo=True, media_alt=True, edit=True, idempotency_key=True),
    online_check="bot.channels.mastodon_check:check_online",
    destination=destination,
)
