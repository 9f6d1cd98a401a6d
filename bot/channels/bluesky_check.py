"""Bluesky's side of ``check --online``: sign in with the handle and app password
(createSession) and read the account's profile (getProfile). Nothing is posted."""

from __future__ import annotations

from bot.channels.bluesky import BlueskySender
from bot.channels.bluesky_platform import BlueskyChannel
from bot.channels.online import OnlineCheck, not_answered, ok, wrong
from bot.config import Config
from bot.errors import AuthError, PermanentError, RetryableError, UnknownOutcomeError


async def check_online(name: str, cfg: BlueskyChannel, config: Config) -> OnlineCheck:
    sender = BlueskySender(name, cfg, user_agent=config.fetch.user_agent)
    try:
        account = await sender.profile()
    except AuthError as exc:
        return wrong(name, f"{exc.problem}. Use an app password (Settings → Privacy and "
                     "security → App passwords), not the account's own, in the variable "
                     "app_password: names")
    except (PermanentError, RetryableError, UnknownOutcomeError) as exc:
        return not_answered(name, exc, service="Bluesky", api_url=cfg.api_url)
    finally:
        await sender.close()
    return ok(name, f"ok: signed in as {account}")
