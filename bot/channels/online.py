"""``newsbot check --online``: ask each platform whether the credentials and target work.

A token can look fine in config.yaml and be wrong; only the platform can say. Each platform
module has a ``check_online(name, cfg, config) -> OnlineCheck`` that asks without posting
(Telegram getMe/getChat/getChatMember, X GET /2/users/me, SMTP connect/STARTTLS/AUTH).
``newsbot run`` makes the same checks at start-up and holds a channel whose check is
``blocking``, so a bad token costs a line in the log rather than every post.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.channels.platform import load
from bot.channels.registry import is_platform, platform_for
from bot.errors import ChannelError, PermanentError

if TYPE_CHECKING:
    from bot.config import ChannelConfig, Config

#: A platform that does not answer within this long is reported, never waited on longer.
CHECK_TIMEOUT = 20.0


@dataclass(frozen=True)
class OnlineCheck:
    """What a platform said about one channel's credentials and target."""

    channel: str
    ok: bool
    message: str  # "ok: …" or what is wrong and what to do; never a secret
    # The platform's answer says the credentials or the target are wrong (not a network
    # blip): posting would fail every time until a person fixes it.
    blocking: bool = False


def ok(channel: str, message: str) -> OnlineCheck:
    return OnlineCheck(channel, True, message)


def wrong(channel: str, message: str) -> OnlineCheck:
    """The platform refused: credentials, permissions or the target must be fixed."""
    return OnlineCheck(channel, False, message, blocking=True)


def unreachable(channel: str, message: str) -> OnlineCheck:
    """No answer (network, timeout, 5xx): nothing proves the settings wrong."""
    return OnlineCheck(channel, False, message, blocking=False)


def not_answered(channel: str, exc: ChannelError, *, service: str,
                 api_url: str) -> OnlineCheck:
    """The verdict on a channel error other than refused credentials (each platform words
    that one itself): a refusal points at api_url, anything else is no answer."""
    if isinstance(exc, PermanentError):
        return wrong(channel, f"{exc.problem}; check api_url ({api_url})")
    return unreachable(channel, f"cannot reach {service} at {api_url} ({exc.problem}); "
                       "check the network and api_url")


async def check_channel(name: str, cfg: ChannelConfig, config: Config) -> OnlineCheck:
    """Ask the platform about channel ``name`` (its credentials must be set)."""
    missing = config.missing_credentials(name)
    if missing:
        return OnlineCheck(name, False, f"not checked: {', '.join(missing)} not set")
    if is_platform(cfg):
        reference = platform_for(cfg).online_check
        if reference is None:
            return ok(name, "ok (nothing to ask this platform before posting)")
        check = load(reference)
    else:  # the digest's SMTP relay
        check = importlib.import_module("bot.digest.smtp_check").check_online
    try:
        result: OnlineCheck = await asyncio.wait_for(check(name, cfg, config), CHECK_TIMEOUT)
    except TimeoutError:
        return unreachable(name, f"no answer within {CHECK_TIMEOUT:g}s; check the network "
                           "and the channel's api_url / smtp.host")
    return result


async def check_channels(config: Config, names: list[str] | None = None
                         ) -> dict[str, OnlineCheck]:
    """Check every enabled channel with credentials (or ``names``), concurrently."""
    chosen = [n for n, c in config.channels.items()
              if c.enabled and (names is None or n in names)]
    results = await asyncio.gather(*(check_channel(n, config.channels[n], config)
                                     for n in chosen))
    return dict(zip(chosen, results, strict=True))
