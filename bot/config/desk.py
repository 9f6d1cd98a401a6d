"""The editors' desk in config.yaml: ``desk:`` (the web dashboard, the Telegram control chat,
alerts) and a channel's ``approval:`` rule.

```yaml
desk:
  enabled: true                      # /desk on the bot's web server (needs secret_key)
  telegram: {chat: -1001234567890, token: ${TELEGRAM_BOT_TOKEN}}
  editors: [123456789]               # Telegram user ids allowed to tap the buttons
channels:
  telegram-en:
    approval: required               # or {window: 15m}
```
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, field_validator

from bot.config.base import Duration, FrozenModel


class Approval(FrozenModel):
    """``approval: required``: every post waits for an editor. ``approval: {window: 15m}``:
    a post waits this long for an editor to hold it, then goes by itself."""

    window: Duration | None = None

    @property
    def required(self) -> bool:
        return self.window is None

    @field_validator("window")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than 0s; write it like 15m")
        return value


def _parse_approval(value: Any) -> Any:
    if value is None or isinstance(value, Approval):
        return value
    if value == "required":
        return Approval()
    if isinstance(value, dict):
        if "window" not in value:
            raise ValueError("give approval: required, or approval: {window: 15m}")
        return value
    raise ValueError(f"{value!r}: give approval: required, or approval: {{window: 15m}}")


ApprovalRule = Annotated[Approval | None, BeforeValidator(_parse_approval)]


class DeskTelegram(FrozenModel):
    """The editors' Telegram group, where posts needing approval get buttons."""

    chat: str | int
    token: SecretStr | None = None
    api_url: str = "https://api.telegram.org"
    timeout: Duration = timedelta(seconds=20)
    poll_timeout: Duration = timedelta(seconds=20)  # getUpdates long-poll


class Desk(FrozenModel):
    enabled: bool = False
    telegram: DeskTelegram | None = None
    # Telegram user ids whose taps on the control chat's buttons count.
    editors: tuple[int, ...] = ()
    alerts_email: str | None = None
    # A source failing this long raises an alert in the control chat.
    source_alert_after: Duration = timedelta(hours=1)
    x_spend_alert: float = Field(default=0.8, gt=0, le=1)  # share of the monthly budget
