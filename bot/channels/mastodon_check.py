"""Mastodon's side of ``check --online``: ``GET /api/v1/accounts/verify_credentials`` with the
channel's token, and the instance's limits from ``/api/v2/instance`` (remembered for the
renderer, so ``newsbot run`` fits its first posts to them). Nothing is posted."""

from __future__ import annotations

from bot.channels.mastodon import MastodonSender
from bot.channels.mastodon_platform import MastodonChannel
from bot.channels.online import OnlineCheck, not_answered, ok, unreachable, wrong
from bot.config import Config
from bot.errors import AuthError, PermanentError, RetryableError, UnknownOutcomeError


async def check_online(name: str, cfg: MastodonChannel, config: Config) -> OnlineCheck:
    sender = MastodonSender(name, cfg, user_agent=config.fetch.user_agent)
    try:
        account, rules = await sender.account()
    except AuthError as exc:
        if "(403)" in exc.problem:
            # A token made with only write:statuses and write:media may post but not read
            # its own account: nothing proves posting would fail, so the channel runs.
            return unreachable(name, f"{exc.problem}; the token may not read its account: "
                               "give it the 'profile' (or read:accounts) scope so this "
                               "check can confirm it")
        return wrong(name, f"{exc.problem}; check the access token (Preferences → "
                     "Development → your application; it needs write:statuses and "
                     "write:media)")
    except (PermanentError, RetryableError, UnknownOutcomeError) as exc:
        return not_answered(name, exc, service="Mastodon", api_url=cfg.api_url)
    finally:
        await sender.close()
    who = f"@{account}" if account else "an account"
    return ok(name, f"ok: the token belongs to {who}; the instance takes posts of up to "
              f"{rules.max_characters} characters")
