"""Builds, from config, what each channel sends through: the real platform or a preview.

Preview mode consumes posts (they are recorded as skipped), so it is used only where someone
asked for it: ``--dry-run`` (which consumes nothing), ``newsbot once`` without credentials
(the quick start), or a channel with ``preview: true``. Under ``newsbot run`` a channel whose
credentials are missing is held instead: nothing is sent, its posts stay pending, and it is
reported as needing attention until the bot is restarted with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from bot.channels import make_channel, post_format
from bot.channels.registry import is_platform
from bot.config import ChannelConfig, Config
from bot.errors import RetryableError
from bot.models import Receipt, RenderedPost
from bot.store import ChannelState, ChannelView

# The channels' base types and the preview channel load with the first outlet built
# (``build_outlets``): a ``newsbot once`` with nothing due asks only ``post_channels`` and
# ``preview_reason`` and builds none.
if TYPE_CHECKING:
    from bot.channels.base import Channel, PostFormat


@dataclass(frozen=True)
class Outlet:
    """One configured channel, ready to receive posts."""

    name: str
    cfg: ChannelConfig
    fmt: PostFormat
    channel: Channel
    preview_reason: str = ""  # non-empty: nothing is really sent, and this says why
    # Non-empty: this worker sends nothing on the channel and its posts stay pending (missing
    # credentials under `run`, a failed start-up check); says what is wrong and what to do.
    attention: str = ""

    @property
    def is_preview(self) -> bool:
        return bool(self.preview_reason)


class HeldChannel:
    """Stands in for a channel this worker cannot send on; dispatch never hands it a post."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self.why = why

    async def send(self, post: RenderedPost) -> Receipt:
        raise RetryableError(self.name, self.why)

    async def close(self) -> None:
        return None


def preview_reason(config: Config, name: str, *, dry_run: bool) -> str:
    if dry_run:
        return "--dry-run was given"
    if config.channels[name].preview:
        return "preview: true in config.yaml"
    missing = config.missing_credentials(name)
    if missing:
        return f"credentials missing ({', '.join(missing)} not set)"
    return ""


def missing_credentials_attention(config: Config, name: str) -> str:
    """Why ``newsbot run`` holds this channel for lack of credentials ("" when it need not)."""
    if config.channels[name].preview:
        return ""
    missing = config.missing_credentials(name)
    if not missing:
        return ""
    them = "them" if len(missing) > 1 else "it"
    return (f"{', '.join(missing)} not set in the bot's environment; its posts wait. Set "
            f"{them} and restart the bot (or add preview: true to the channel to preview "
            "instead)")


def build_outlets(config: Config, *, dry_run: bool = False, echo: TextIO | None = None,
                  hold_without_credentials: bool = False) -> dict[str, Outlet]:
    """One Outlet per enabled post channel (email digests are built elsewhere).

    ``hold_without_credentials`` (``newsbot run``): a channel whose credentials are missing
    is held, not previewed, so its posts are not consumed.
    """
    from bot.channels.preview import PreviewChannel

    outlets: dict[str, Outlet] = {}
    preview_dir = config.resolve_path(config.preview_dir)
    for name in post_channels(config):
        cfg = config.channels[name]
        fmt = post_format(cfg)
        held = "" if dry_run or not hold_without_credentials else \
            missing_credentials_attention(config, name)
        if held:
            outlets[name] = Outlet(name, cfg, fmt, HeldChannel(name, held), attention=held)
            continue
        reason = preview_reason(config, name, dry_run=dry_run)
        channel: Channel
        if reason:
            channel = PreviewChannel(name, preview_dir, reason=reason, markup=fmt.markup,
                                     echo=echo)
        else:
            channel = make_channel(name, cfg, config)
        outlets[name] = Outlet(name, cfg, fmt, channel, reason)
    return outlets


def post_channels(config: Config) -> list[str]:
    """The channels ``build_outlets`` makes an Outlet for: every enabled post channel."""
    return [name for name, cfg in config.channels.items() if cfg.enabled and is_platform(cfg)]


def channel_views(config: Config, outlets: dict[str, Outlet], states: dict[str, ChannelState],
                  *, dry_run: bool, held: dict[str, str] | None = None
                  ) -> dict[str, ChannelView]:
    """How this worker runs each configured channel, for its heartbeat and /healthz.
    ``held``: channels this worker holds and why (a digest whose start-up check failed)."""
    views: dict[str, ChannelView] = {}
    for name, cfg in config.channels.items():
        state = states.get(name)
        outlet = outlets.get(name)
        if not cfg.enabled:
            views[name] = ChannelView("disabled")
        elif state is not None and state.paused:
            views[name] = ChannelView("paused", "paused by an editor (newsbot resume)")
        elif outlet is not None and outlet.attention:
            views[name] = ChannelView("needs attention", outlet.attention)
        elif held and name in held:
            views[name] = ChannelView("needs attention", held[name])
        elif state is not None and state.attention:
            views[name] = ChannelView("needs attention", state.attention)
        elif outlet is not None and outlet.is_preview:
            views[name] = ChannelView("preview", outlet.preview_reason)
        elif outlet is None and (missing := "" if dry_run else
                                 missing_credentials_attention(config, name)):
            views[name] = ChannelView("needs attention", missing)
        elif outlet is None and (reason := preview_reason(config, name, dry_run=dry_run)):
            views[name] = ChannelView("preview", reason)
        else:
            views[name] = ChannelView("live")
    return views


async def close_outlets(outlets: dict[str, Outlet]) -> None:
    for outlet in outlets.values():
        await outlet.channel.close()
