"""What every config model shares: frozen, unknown keys refused, durations written 30s/5m."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from bot.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class FrozenModel(BaseModel):
    """A part of config.yaml: a typo in a key is an error, and nothing changes it once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
