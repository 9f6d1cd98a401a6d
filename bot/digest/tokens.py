"""Signed per-recipient, per-digest tokens for unsubscribe and confirmation links.

A token is ``base64url(kind \\x1f channel \\x1f subscriber id \\x1f issued \\x1f salt)``
``.`` ``base64url(HMAC-SHA256 truncated to 128 bits)``, keyed with ``config.secret_key``. Its
signature needs no lookup to verify, it carries no address, and it is compared in constant
time; a token signed for one digest (or one reader) says nothing about another, and a token
of one kind (confirm) is not accepted as the other (unsubscribe).

The salt is the subscriber row's ``token_salt``, random per row: a token names a row only
when the salt matches too (``names``), so even an id given to a new reader could not make a
removed reader's old link act on them. Tokens made before the salt existed (0.1) have four
fields and read as salt ""; they still work for the rows of that time, whose salt is "", and
never for a row created since (every new row has a salt). So an old digest's unsubscribe
link keeps working for its reader and can never reach anyone added after the upgrade.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from bot.config import Config
from bot.config.model import is_loopback_host
from bot.errors import ConfigError

_SEP = "\x1f"
_MAC_BYTES = 16
CONFIRM_VALID_FOR = timedelta(days=7)


@dataclass(frozen=True)
class TokenClaim:
    purpose: str  # "unsubscribe" | "confirm"
    channel: str
    subscriber_id: int
    issued: datetime
    salt: str = ""  # the subscriber's token_salt when the token was made


class _Named(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def token_salt(self) -> str: ...


def names(claim: TokenClaim, subscriber: _Named | None) -> bool:
    """Whether the token names this very subscriber: same id, same digest and the salt the
    row was created with (a new row with a reused id, or a re-added address, does not match)."""
    return (subscriber is not None and subscriber.id == claim.subscriber_id
            and subscriber.channel == claim.channel
            and hmac.compare_digest(subscriber.token_salt.encode(), claim.salt.encode()))


def secret_of(config: Config) -> bytes:
    """The HMAC key; a clear error when config.yaml does not give one."""
    key = config.secret_key.get_secret_value() if config.secret_key else ""
    if len(key) < 16:
        raise ConfigError("secret_key", "email digests need a secret of at least 16 characters "
                          "for their unsubscribe links; set secret_key: ${NEWSBOT_SECRET_KEY} "
                          "and export NEWSBOT_SECRET_KEY (any long random string)")
    return key.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def make_token(secret: bytes, purpose: str, channel: str, subscriber_id: int,
               issued: datetime | None = None, *, salt: str = "") -> str:
    """A signed token for the subscriber ``subscriber_id`` of ``channel``; ``salt`` is the
    row's token_salt (only a preview or a test copy, made for no stored reader, has none)."""
    when = int((issued or datetime.now(UTC)).timestamp()) if purpose == "confirm" else 0
    fields = (purpose[0], channel, str(subscriber_id), str(when), *((salt,) if salt else ()))
    payload = _SEP.join(fields).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def read_token(secret: bytes, token: str, purpose: str, *,
               now: datetime | None = None) -> TokenClaim | None:
    """The claim a token makes when its signature is valid for ``purpose``; else None.
    Confirmation tokens expire after CONFIRM_VALID_FOR; unsubscribe tokens never do (an
    old digest's link must still work)."""
    try:
        body, _, sig = token.partition(".")
        payload, signature = _unb64(body), _unb64(sig)
    except (ValueError, TypeError):
        return None
    if not hmac.compare_digest(signature, _mac(secret, payload)):
        return None
    try:
        kind, channel, subscriber, issued_s, *rest = payload.decode("utf-8").split(_SEP)
        if len(rest) > 1:
            return None
        issued = datetime.fromtimestamp(int(issued_s), UTC)
        subscriber_id = int(subscriber)
    except (ValueError, UnicodeDecodeError, OverflowError, OSError):
        return None
    if kind != purpose[0]:
        return None
    if purpose == "confirm" and (now or datetime.now(UTC)) - issued > CONFIRM_VALID_FOR:
        return None
    return TokenClaim(purpose, channel, subscriber_id, issued, rest[0] if rest else "")


#: A VERP token: ``<run>-<subscriber>-<mac>``, lower case (mail systems may fold the case of
#: a local part, so the MAC is base32) and short (a local part holds 64 octets at most).
_VERP = re.compile(r"(\d{1,12})-(\d{1,12})-([a-z2-7]{16})", re.IGNORECASE)


def _verp_mac(secret: bytes, run_id: int, subscriber_id: int) -> str:
    mac = _mac(secret, f"bounce{_SEP}{run_id}{_SEP}{subscriber_id}".encode("ascii"))
    return base64.b32encode(mac[:10]).decode("ascii").lower()


def verp_token(secret: bytes, run_id: int, subscriber_id: int) -> str:
    """The signed part of one copy's envelope sender (``bounces+<token>@domain``): a bounce
    to it names the run and the reader, and cannot be forged for another."""
    return f"{run_id}-{subscriber_id}-{_verp_mac(secret, run_id, subscriber_id)}"


def read_verp_token(secret: bytes, text: str) -> tuple[int, int] | None:
    """(run id, subscriber id) when ``text`` is a valid VERP token; else None."""
    found = _VERP.fullmatch(text.strip())
    if found is None:
        return None
    run_id, subscriber_id = int(found[1]), int(found[2])
    if not hmac.compare_digest(found[3].lower(), _verp_mac(secret, run_id, subscriber_id)):
        return None
    return run_id, subscriber_id


def _live_digests(config: Config) -> list[str]:
    return [name for name, cfg in config.channels.items()
            if cfg.type == "email" and cfg.enabled and not config.missing_credentials(name)
            and not cfg.preview]


def secret_key_problem(config: Config) -> str:
    """Why a live digest could not sign its copies' links ("" when fine): ``check`` says it
    before the cron does, which would fail the run."""
    live = _live_digests(config)
    key = config.secret_key.get_secret_value() if config.secret_key else ""
    if not live or len(key) >= 16:
        return ""
    return (f"the digest {', '.join(live)} sends live, but secret_key is "
            f"{'too short' if key else 'not set'}: its runs will fail. Set secret_key: "
            "${NEWSBOT_SECRET_KEY} and export NEWSBOT_SECRET_KEY (at least 16 characters)")


def public_url_problem(config: Config) -> str:
    """Why the links a live digest puts in every copy would point nowhere ("" when fine):
    ``public_url`` is plain http, or a loopback address no reader can reach."""
    live = _live_digests(config)
    if not live:
        return ""
    parts = urlsplit(config.public_url)
    host = (parts.hostname or "").lower()
    problems = []
    if parts.scheme != "https":
        problems.append("is not https://")
    if is_loopback_host(host):
        problems.append("points at this machine (a loopback address)")
    if not problems:
        return ""
    return (f"public_url {config.public_url} {' and '.join(problems)}, while the digest "
            f"{', '.join(live)} sends live: readers' unsubscribe and confirm links would "
            "point nowhere (or in clear). Set public_url to the https:// address where "
            "`newsbot run` (or `newsbot serve`) is reachable from outside")


def unsubscribe_url(config: Config, token: str) -> str:
    return f"{config.public_url.rstrip('/')}/unsubscribe/{token}"


def confirm_url(config: Config, token: str) -> str:
    return f"{config.public_url.rstrip('/')}/confirm/{token}"
