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
from bot.store.failure import driver_reason, permanent_sqlite, store_failure

C = TypeVar("C", bound=type)
_calls = threading.local()  # how deep this thread is in guarded store calls


def is_retryable(exc: SQLAlchemyError) -> bool:
    """Whether the operation that raised ``exc`` may work if tried again later: a lock held
    too long, a connection refused, lost or timed out, a serialization failure."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (DisconnectionError, PoolTimeoutError, InterfaceError)):
        return True
    if isinstance(exc, OperationalError):
        return not permanent_sqlite(_reason(exc))
    return False


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's own words, first line only (never the SQL or its parameters)."""
    orig = getattr(exc, "orig", None)
    return driver_reason(orig if orig is not None else exc, type(exc).__name__)


def translate(exc: SQLAlchemyError, *, store: str, operation: str,
              busy_timeout: float | None = None) -> StoreError:
    """``exc`` as the StoreError a caller outside the store handles."""
    return store_failure(_reason(exc), retryable=is_retryable(exc), store=store,
                         operation=operation, busy_timeout=busy_timeout)


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
