"""X's side of ``check --online``: GET /2/users/me signed with the channel's OAuth 1.0a keys
(the same signing and routing as posting). Nothing is posted."""

from __future__ import annotations

from bot.channels.online import OnlineCheck, not_answered, ok, wrong
from bot.channels.x import XSender
from bot.channels.x_platform import XChannel
from bot.config import Config
from bot.errors import AuthError, PermanentError, RetryableError, UnknownOutcomeError


async def check_online(name: str, cfg: XChannel, config: Config) -> OnlineCheck:
    sender = XSender(name, cfg, user_agent=config.fetch.user_agent)
    try:
        username = await sender.account()
    except AuthError as exc:
        return wrong(name, f"{exc.problem}; check the four X_* keys (the app needs read and "
                     "write permission, and the access token must be regenerated after "
                     "changing it)")
    except (PermanentError, RetryableError, UnknownOutcomeError) as exc:
        return not_answered(name, exc, service="X", api_url=cfg.api_url)
    finally:
        await sender.close()
    return ok(name, f"ok: the keys belong to @{username}" if username else "ok")
