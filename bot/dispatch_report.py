"""What a dispatch pass did, by outcome: apart from bot/dispatch.py so that ``newsbot once``
can report an empty pass (nothing due: the usual warm cycle) without loading the dispatcher,
the planner and the channels' base types it never uses then."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DispatchReport:
    """What one dispatch pass did, by outcome."""

    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def add(self, outcome: str, error: str = "") -> None:
        self.outcomes[outcome] += 1
        if error:
            self.errors.append(error)
