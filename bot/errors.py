"""One root exception type, with stdlib mixins, and the typed channel errors dispatch acts on.

Dispatch decides what to do with a failed send purely from the error's type:

- ``RetryableError``: the post certainly did not go out; try again later (``retry_after``).
- ``PermanentError``: the platform refused it; fail the delivery with the platform's words.
- ``UnknownOutcomeError``: the request may have reached the platform; never retry blindly,
  because a duplicate post in a channel is worse than a missing one.
"""

from __future__ import annotations


class NewsbotError(Exception):
    """Root of every error newsbot raises on purpose."""


class ConfigError(NewsbotError, ValueError):
    """config.yaml is invalid. ``path`` is the YAML path (``channels.x-en.schedule``)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class SourceError(NewsbotError, ValueError):
    """A source could not be fetched or parsed. The message names the source."""

    def __init__(self, source_id: str, problem: str, *, retryable: bool = True) -> None:
        self.source_id = source_id
        self.problem = problem
        self.retryable = retryable
        super().__init__(f"source {source_id}: {problem}")


class TemplateError(NewsbotError, ValueError):
    """A template failed to load or render. The message names the template and line."""


class StoreError(NewsbotError, RuntimeError):
    """The store is unreachable, locked by another process, or in an unexpected state.

    Every database error leaves ``bot.store`` as this (the store's boundary translates
    SQLAlchemy's), so no caller needs to know the driver. The message names the store (its
    URL, password hidden) and what failed. ``retryable`` is True when asking again later may
    succeed (SQLite's "database is locked", a PostgreSQL connection lost or refused, a
    serialization failure); False when it would fail the same way (a missing table, a
    constraint, a bad URL).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message)


class ChannelError(NewsbotError):
    """A send failed. ``channel`` is the channel's name from config.yaml."""

    def __init__(self, channel: str, problem: str) -> None:
        self.channel = channel
        self.problem = problem
        super().__init__(f"{channel}: {problem}")


class RetryableError(ChannelError):
    """The post was certainly not delivered; it may be tried again after ``retry_after`` s."""

    def __init__(self, channel: str, problem: str, *, retry_after: float | None = None) -> None:
        super().__init__(channel, problem)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """The platform said "too many requests"; ``retry_after`` is its own figure."""


class PermanentError(ChannelError):
    """The platform refused the post; sending it again would be refused again."""


class DuplicateContentError(PermanentError):
    """The platform says this exact post already exists (X's 403 duplicate)."""


class AuthError(PermanentError):
    """Credentials or permissions are wrong: the channel needs a person's attention."""


class UnknownOutcomeError(ChannelError):
    """The request may have reached the platform (e.g. a read timeout after sending)."""


class UrlRefused(NewsbotError, ValueError):
    """The outbound-URL policy (``bot.urlpolicy``) will not let the bot fetch this URL.

    Permanent: the URL's scheme or the address its host resolves to is not allowed, and
    asking again gives the same answer. ``problem`` says which and how to allow it.
    """

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)
