"""Builds, from config, what each channel sends through: the real platform or a preview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from bot.channels import make_channel, post_format
from bot.channels.base import Channel, PostFormat
from bot.channels.preview import PreviewChannel
from bot.config import ChannelConfig, Config


@dataclass(frozen=True)
class Outlet:
    """One configured channel, ready to receive posts."""

    name: str
    cfg: ChannelConfig
    fmt: PostFormat
    channel: Channel
    preview_reason: str = ""  # non-empty: nothing is really sent, and this says why

    @property
    def is_preview(self) -> bool:
        return bool(self.preview_reason)


def preview_reason(config: Config, name: str, *, dry_run: bool) -> str:
    if dry_run:
        return "--dry-run was given"
    missing = config.missing_credentials(name)
    if missing:
        return f"credentials missing ({', '.join(missing)} not set)"
    return ""


def build_outlets(config: Config, *, dry_run: bool = False,
                  echo: TextIO | None = None) -> dict[str, Outlet]:
    """One Outlet per enabled post channel (email digests are built elsewhere)."""
    outlets: dict[str, Outlet] = {}
    preview_dir = config.resolve_path(config.preview_dir)
    for name, cfg in config.channels.items():
        if not cfg.enabled or cfg.type == "email":
            continue
        fmt = post_format(cfg)
        reason = preview_reason(config, name, dry_run=dry_run)
        channel: Channel
        if reason:
            channel = PreviewChannel(name, preview_dir, reason=reason, markup=fmt.markup,
                                     echo=echo)
        else:
            channel = make_channel(name, cfg, config)
        outlets[name] = Outlet(name, cfg, fmt, channel, reason)
    return outlets


async def close_outlets(outlets: dict[str, Outlet]) -> None:
    for outlet in outlets.values():
        await outlet.channel.close()
