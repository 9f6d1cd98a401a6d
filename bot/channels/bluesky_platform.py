"""Bluesky as the core sees it: its settings, length rules and capabilities.

Neither atproto (over a second to import) nor the grapheme counter is imported here: config
loading imports this module. The sender is bot/channels/bluesky.py, loaded on the first send.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator

from bot.channels.platform import Capabilities, Platform
from bot.config.base import Duration
from bot.config.channel import ChannelSettings

if TYPE_CHECKING:
    from bot.channels.bluesky_text import BlueskyFormat
    from bot.config import Config

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


class BlueskyChannel(ChannelSettings):
    type: Literal["bluesky"]
    handle: str | None = None  # newsroom.bsky.social (or the account's DID)
    app_password: SecretStr | None = None  # an app password, never the account's own
    api_url: str = "https://bsky.social"  # the account's PDS, or the bsky.social entryway
    # The posts' languages (BCP-47, at most 3). Unset: the language of the sources this
    # channel's route takes, when they all have the same one.
    langs: tuple[str, ...] = Field(default=(), max_length=3)
    thumbnail: bool = True  # the article's image as the link card's thumbnail
    hashtags: int = Field(default=3, ge=0)  # at most this many, dropped first when too long
    timeout: Duration = timedelta(seconds=20)

    @field_validator("langs")
    @classmethod
    def _check_langs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            if not _LANGUAGE_TAG.match(tag):
                raise ValueError(f"{tag!r} is not a language tag; write it like en, ar or "
                                 "pt-BR")
        return value


def make_format(cfg: BlueskyChannel) -> BlueskyFormat:
    """Bluesky's length rules (300 graphemes, 3000 bytes)."""
    from bot.channels.bluesky_text import BlueskyFormat

    return BlueskyFormat(media=cfg.thumbnail, hashtags=cfg.hashtags)


def post_languages(cfg: BlueskyChannel, config: Config) -> tuple[str, ...]:
    """The ``langs`` of this channel's posts: ``langs:`` when set, else the one language the
    route admits (``route.languages``, or the sources it takes), else none (Bluesky guesses).
    """
    if cfg.langs:
        return cfg.langs
    if len(cfg.route.languages) == 1:
        return cfg.route.languages
    sources = [s for s in config.sources
               if not cfg.route.sources or s.id in cfg.route.sources]
    languages = {s.language for s in sources}
    if len(languages) == 1 and (language := languages.pop()) and \
            _LANGUAGE_TAG.match(language):
        return (language,)
    return ()


def destination(cfg: BlueskyChannel) -> str:
    return f"@{cfg.handle} via {cfg.api_url}" if cfg.handle else f"via {cfg.api_url}"


PLATFORM = Platform(
    type="bluesky",
    settings=BlueskyChannel,
    default_template="bluesky/post.txt.j2",
    credentials=("handle", "app_password"),
    make_format=make_format,
    sender="bot.channels.bluesky:make_channel",
    # The image is the link card's thumbnail. A Bluesky post cannot be edited once out.
    capabilities=Capabilities(photo=True, edit=False),
    online_check="bot.channels.bluesky_check:check_online",
    destination=destination,
)
