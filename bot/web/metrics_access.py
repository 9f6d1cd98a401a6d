"""Who may scrape ``/metrics``: this machine, and elsewhere whoever shows the operator's token.

The metrics name every source and channel and count their errors, and the web port usually
faces the internet (the readers' pages, the desk), so the world must not read them. A local
Prometheus or agent keeps scraping as before: a request from this machine is let in by the
same rule as ``/healthz``'s detail (bot.web.health.asked_from_this_machine: loopback, not
relayed by a proxy). A scraper elsewhere sends ``Authorization: Bearer <token>`` with the
token the operator exported as ``NEWSBOT_METRICS_TOKEN``: a secret, so it comes from the
environment only (never config.yaml), is registered for redaction as soon as it is read, and
is never printed; ``newsbot check`` and the start-up log say only whether one is set.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

#: The bearer token a scraper on another machine shows. Registered for redaction where it is
#: read (``from_environ``), the one place that holds it.
METRICS_TOKEN_ENV = "NEWSBOT_METRICS_TOKEN"
#: Shorter tokens are refused: /metrics has no rate limit, so a short one could be guessed.
MIN_TOKEN_LENGTH = 16
#: What a refused scraper is told: the same whether or not a token is set, so the answer
#: does not say which.
REFUSAL = ("/metrics answers this machine only, or a request with "
           "Authorization: Bearer <token>\n")
#: 401 rather than 404: that /metrics exists is no secret (the README lists it, /healthz
#: answers beside it), and a 401 with WWW-Authenticate tells a misconfigured Prometheus
#: ("server returned HTTP status 401") what is wrong where a 404 would send the operator
#: looking for a wrong path.
REFUSAL_HEADERS = {"WWW-Authenticate": 'Bearer realm="newsbot metrics"',
                   "Cache-Control": "no-store"}
#: Compared against when no token is set, so a refusal takes the same path (and time) then.
_NEVER = secrets.token_bytes(32)


@dataclass(frozen=True)
class MetricsAccess:
    """The token a scraper elsewhere must show (empty: none is accepted)."""

    token: bytes = field(default=b"", repr=False)
    #: Why a token that was set is not used ("" when it is, or when none was set).
    problem: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> MetricsAccess:
        """The access ``NEWSBOT_METRICS_TOKEN`` gives (``os.environ`` unless given); the
        token is registered for redaction before anything else can log it."""
        from bot.redact import install_redaction

        raw = (os.environ if environ is None else environ).get(METRICS_TOKEN_ENV, "")
        token = raw.strip()  # a trailing newline from `cat file` is not part of it
        install_redaction(raw, token)
        if token and len(token) < MIN_TOKEN_LENGTH:
            return cls(problem=f"{METRICS_TOKEN_ENV} is shorter than {MIN_TOKEN_LENGTH} "
                               "characters, so it is not accepted (make one with "
                               "`openssl rand -hex 32`)")
        return cls(token=token.encode())

    def admits(self, *, local: bool, authorization: str) -> bool:
        """Whether a request may read the metrics: ``local`` (from this machine, as
        ``/healthz`` decides it) or carrying ``Authorization: Bearer <the token>``."""
        if local:
            return True
        scheme, _, presented = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":  # the scheme is case-insensitive (RFC 7235)
            presented = ""
        # Constant time, and compared even when no token is set (against bytes nobody has).
        same = hmac.compare_digest(presented.strip().encode(), self.token or _NEVER)
        return same and bool(self.token)

    def describe(self) -> str:
        """How /metrics is reachable, for ``newsbot check`` and the start-up log; never
        the token."""
        if self.token:
            return (f"/metrics: this machine, and elsewhere with the bearer token in "
                    f"{METRICS_TOKEN_ENV}")
        if self.problem:
            return f"/metrics: this machine only ({self.problem})"
        return (f"/metrics: this machine only (export {METRICS_TOKEN_ENV} to let a "
                "scraper elsewhere in with that bearer token)")
