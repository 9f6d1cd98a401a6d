"""What each channel does when the feed corrects a posted article (``corrections:``).

A platform that edits a sent post in place (``Capabilities.edit``) gets an edit to send; one
that cannot gets a skipped row saying so, so ``newsbot history`` tells the editors why their
post still shows the old headline; the digest carries the article again in its next edition,
marked "Updated". The store plans the rows (bot/store/corrections.py); this decides.
"""

from __future__ import annotations

from bot.channels.registry import is_platform, platform_for
from bot.config import Config
from bot.models import DeliveryStatus
from bot.store.records import CorrectionPolicy


def correction_policy(config: Config) -> CorrectionPolicy:
    """The corrections policy of ``config``: its window, and each channel's decision."""

    def decide(channel: str) -> tuple[DeliveryStatus, str] | None:
        cfg = config.channels.get(channel)
        if cfg is None or not cfg.enabled:
            return None
        if not is_platform(cfg):
            return DeliveryStatus.PENDING, "correction: in the next digest, marked Updated"
        if platform_for(cfg).capabilities.edit:
            return DeliveryStatus.PENDING, "correction: the post is edited in place"
        return (DeliveryStatus.SKIPPED,
                f"correction not posted: {cfg.type} cannot edit a sent post")

    return CorrectionPolicy(window=config.corrections.window, decide=decide)
