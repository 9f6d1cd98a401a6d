"""How a UTCDateTime column's values go in and come out: naive UTC stored, aware UTC read.

Apart from the tables (bot/store/schema.py) so that code reading rows without SQLAlchemy (the
driver's own SQL in poll_sql.py, the light store in light.py) converts them the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload


def naive_utc(value: datetime) -> datetime:
    """What a UTCDateTime column stores for an aware ``value``: naive UTC."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous here; pass an aware one")
    return value.astimezone(UTC).replace(tzinfo=None)


@overload
def aware_utc(value: None) -> None: ...
@overload
def aware_utc(value: datetime | str) -> datetime: ...
def aware_utc(value: Any) -> datetime | None:
    """A UTCDateTime column's stored value as aware UTC: from the driver's datetime, or from
    SQLite's text when the column type did not read it (text() and driver SQL)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
