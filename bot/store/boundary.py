"""The store's boundary: SQLAlchemy's errors go in, ``StoreError`` comes out.

Code outside ``bot/store/`` never sees a driver's exception: every public method of the
``Store`` facade is wrapped (``guard_store_errors``), and a ``SQLAlchemyError`` escaping it is
translated once, with the store's URL (password hidden), the operation, and whether asking
again later may work (``StoreError.retryable``). The driver's exception is not chained: its
text carries the SQL's parameters (addresses, tokens), which must not reach a log. Inside
the package, the query modules keep catching what they expect (an ``IntegrityError`` that
means "already there").
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bot.errors import StoreError

C = TypeVar("C", bound=type)
_calls = threading.local()  # how deep this thread is in guarded store calls

#: SQLite answers these as OperationalError, but asking again gives the same answer.
_PERMANENT_SQLITE = ("no such table", "no such column", "readonly database", "malformed",
                     "not a database", "unable to open database file", "disk is full")


def is_retryable(exc: SQLAlchemyError) -> bool:
    """Whether the operation that raised ``exc`` may work if tried again later: a lock held
    too long, a connection refused, lost or timed out, a serialization failure."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (DisconnectionError, PoolTimeoutError, InterfaceError)):
        return True
    if isinstance(exc, OperationalError):
        return not any(marker in _reason(exc).lower() for marker in _PERMANENT_SQLITE)
    return False


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's own words, first line only (never the SQL or its parameters)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def translate(exc: SQLAlchemyError, *, store: str, operation: str,
              busy_timeout: float | None = None) -> StoreError:
    """``exc`` as the StoreError a caller outside the store handles."""
    reason = _reason(exc)
    retryable = is_retryable(exc)
    hint = ""
    if "database is locked" in reason or "database is busy" in reason:
        wait = f"{busy_timeout:g} s " if busy_timeout is not None else ""
        hint = (f": another connection held the write lock past the {wait}busy timeout "
                "(a long import or migration, or a second process on the file)")
    elif retryable:
        hint = ": tried again at the next attempt; check that the database server is running"
    return StoreError(f"store {store}: {operation} failed: {reason}{hint}",
                      retryable=retryable)


def guard_store_errors(cls: C) -> C:
    """Wrap every public method of ``cls`` so a SQLAlchemyError leaves it as StoreError.

    ``transaction`` (a context manager used inside the package) and properties are left as
    they are; generator methods are wrapped while they are iterated.
    """
    for name in dir(cls):
        if name.startswith("_") or name == "transaction":
            continue
        attr = inspect.getattr_static(cls, name)
        if not inspect.isfunction(attr):
            continue
        setattr(cls, name, _guarded(attr))
    return cls


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    operation = method.__name__
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def iterate(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(self, *args, **kwargs)
            except SQLAlchemyError as exc:
                raise self._store_error(exc, operation) from None
        return iterate

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Only the outermost call translates, so the error names what the caller asked for
        # (update_channel), not the helper it used (ensure_channel_row).
        outermost = not getattr(_calls, "depth", 0)
        _calls.depth = getattr(_calls, "depth", 0) + 1
        try:
            return method(self, *args, **kwargs)
        except SQLAlchemyError as exc:
            if not outermost:
                raise
            raise self._store_error(exc, operation) from None
        finally:
            _calls.depth -= 1
    return call
