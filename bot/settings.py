"""Operators' settings from the environment, read once at start-up and passed in.

These are the knobs for several workers on one store (README, "Deploy"). They are read by
the process shell (``newsbot run`` / ``once``) when it starts, never at import time, so a
test or an embedding program sets them by building ``RuntimeSettings`` itself, and a typo in
a value is reported when the bot starts, with the variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta


def env_seconds(environ: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    """A duration in seconds from ``environ[name]`` (``default`` when unset or empty)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw.removesuffix("s"))
    except ValueError:
        raise ValueError(f"{name}={raw!r}: give a number of seconds, e.g. 300") from None
    if seconds <= 0:
        raise ValueError(f"{name}={raw!r}: must be more than 0 seconds")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class RuntimeSettings:
    """How long leases and claims last, and how patient a stopping worker is."""

    #: How long a claim stays a worker's if it never reports back (it died): render, pacing
    #: (the Telegram pacer waits up to 30 s) and the send's own timeouts must fit well inside
    #: it, or a live send is taken for dead and marked unknown. NEWSBOT_CLAIM_LEASE.
    claim_lease: timedelta = timedelta(minutes=5)
    #: How long the poll lease outlives its holder: another worker polls within about this
    #: long after the leader dies. NEWSBOT_LEASE_TTL.
    lease_ttl: timedelta = timedelta(seconds=60)
    #: How long a stopping worker lets the jobs in progress finish; keep it under the service
    #: manager's stop timeout. NEWSBOT_SHUTDOWN_GRACE.
    shutdown_grace: timedelta = timedelta(seconds=25)
    #: How long a SQLite write waits for the write lock; a call on the event loop can stall
    #: it this long behind a long writer (bot/store/base.py). NEWSBOT_SQLITE_BUSY_TIMEOUT.
    sqlite_busy_timeout: timedelta = timedelta(seconds=10)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        """The settings the environment gives (``os.environ`` unless given); ValueError
        naming the variable for a value that is not a positive number of seconds."""
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            claim_lease=env_seconds(env, "NEWSBOT_CLAIM_LEASE", default.claim_lease),
            lease_ttl=env_seconds(env, "NEWSBOT_LEASE_TTL", default.lease_ttl),
            shutdown_grace=env_seconds(env, "NEWSBOT_SHUTDOWN_GRACE", default.shutdown_grace),
            sqlite_busy_timeout=env_seconds(env, "NEWSBOT_SQLITE_BUSY_TIMEOUT",
                                            default.sqlite_busy_timeout),
        )
