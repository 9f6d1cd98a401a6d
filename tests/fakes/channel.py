"""An in-memory Channel for tests of the core: records what it is sent, raises what it is told.

The core's side of the Channel protocol (bot/channels/base.py) tested without a platform;
the platforms themselves are tested against their local API servers in this folder.
"""

from __future__ import annotations

from bot.errors import ChannelError
from bot.models import Receipt, RenderedPost


class FakeChannel:
    """Records posts; raises the queued errors first."""

    def __init__(self, name: str = "tg") -> None:
        self.name = name
        self.sent: list[RenderedPost] = []
        self.errors: list[ChannelError | Exception] = []

    async def send(self, post: RenderedPost) -> Receipt:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(post)
        return Receipt(platform_id=str(len(self.sent)), url=f"https://t.me/c/{len(self.sent)}")

    async def close(self) -> None:
        return None
