"""What every channel in config.yaml has, whatever its platform: a route, a schedule, a
template. Platform modules (bot/channels/*_platform.py) extend ``ChannelSettings`` with their
own keys; this module imports nothing of theirs, so they can import it while config loads."""

from __future__ import annotations

from pydantic import Field

from bot.config.base import FrozenModel
from bot.config.desk import ApprovalRule
from bot.config.schedule import Schedule


class Route(FrozenModel):
    """Which articles a channel carries. Empty lists mean "any"."""

    sources: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    include: tuple[str, ...] = ()  # plain words or phrases, case-insensitive
    exclude: tuple[str, ...] = ()


class ChannelSettings(FrozenModel):
    """The keys every channel type shares. ``type`` is narrowed to a Literal by each type."""

    type: str
    template: str | None = None
    route: Route = Route()
    schedule: Schedule = Schedule()
    enabled: bool = True
    # The editors ask for preview mode: posts are written to preview_dir and recorded as
    # skipped, even under `newsbot run` and even with credentials set.
    preview: bool = False
    summary_chars: int = Field(default=600, ge=0)  # the budget templates cut summaries to
    approval: ApprovalRule = None  # the desk: posts wait for (or may be held by) an editor
