"""How a fetch's failures are worded: each one a ``SourceError`` that names the URL (without
its credentials), says whether it will be retried, and what the editor can do.

bot.ingest.fetch raises these; the wording lives here so the fetching reads as fetching.
"""

from __future__ import annotations

from types import TracebackType

import httpx

from bot.errors import SourceError, UrlRefused
from bot.ingest.urls import strip_userinfo


class worded:  # lower case: it reads as a phrase, `with worded(source_id, url, ...)`
    """Turn what fetching ``url`` raises (a refused address, a timeout after ``timeout``
    seconds, httpx's errors) into ``SourceError``; a ``SourceError`` passes as it is.

    A class rather than a generator-based context manager: it wraps every fetch, and a
    fetch that goes well should cost two calls here, not a generator's dozen."""

    def __init__(self, source_id: str, url: str, *, timeout: float) -> None:
        self.source_id = source_id
        self.url = url
        self.timeout = timeout

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and isinstance(exc, Exception):
            problem = self._worded(exc)
            if problem is not None:
                raise problem from None

    def _worded(self, exc: Exception) -> SourceError | None:
        source_id, timeout = self.source_id, self.timeout
        shown = strip_userinfo(self.url)
        if isinstance(exc, UrlRefused):
            return SourceError(source_id, f"{shown} was not fetched: {exc.problem}",
                               retryable=False)
        if isinstance(exc, TimeoutError):
            return SourceError(
                source_id,
                f"{shown} did not answer within {timeout:g}s; "
                "will retry (raise fetch.timeout if the server is always this slow)",
            )
        if isinstance(exc, httpx.TimeoutException):
            return SourceError(
                source_id,
                f"{shown} timed out after {timeout:g}s; will retry "
                "(raise fetch.timeout if the server is always this slow)",
            )
        if isinstance(exc, httpx.ConnectError):
            return SourceError(
                source_id,
                f"could not connect to {shown} ({exc or 'connection refused'}); will retry: "
                "check the host name and that the server is up",
            )
        if isinstance(exc, httpx.HTTPError):
            return SourceError(
                source_id, f"fetching {shown} failed ({type(exc).__name__}: {exc}); will retry"
            )
        return None


def status_error(source_id: str, url: str, response: httpx.Response) -> SourceError:
    """An HTTP error status: 404/410 and other 4xx are permanent; 429 and 5xx retried."""
    status = response.status_code
    shown = f"{strip_userinfo(url)} answered HTTP {status} {response.reason_phrase}".rstrip()
    if status in (404, 410):
        return SourceError(
            source_id, f"{shown}: the URL is wrong or gone; check it", retryable=False
        )
    if status in (401, 403):
        return SourceError(
            source_id, f"{shown}: access denied; check the URL or ask the site", retryable=False
        )
    if status == 429 or status >= 500:
        return SourceError(source_id, f"{shown}: the server is struggling; will retry")
    return SourceError(source_id, f"{shown}: check the source's URL", retryable=False)


def past_deadline(source_id: str, url: str, seconds: float, why: str) -> SourceError:
    """The source's ``seconds``-long deadline came before ``url`` was in."""
    return SourceError(
        source_id,
        f"{strip_userinfo(url)} was not in within the source's {seconds:g}s "
        f"deadline ({why}); raise fetch.source_deadline if the site is always this slow",
    )


def too_large(source_id: str, url: str, cap: int, why: str) -> SourceError:
    """A body over ``fetch.max_bytes`` (``cap``): not retried."""
    return SourceError(
        source_id,
        f"{strip_userinfo(url)} is larger than fetch.max_bytes ({cap:,} bytes; {why}): "
        "raise fetch.max_bytes if this is expected",
        retryable=False,
    )
