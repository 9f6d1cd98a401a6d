"""Who is at the desk: passwords (argon2id), the session cookie, login limits, CSRF.

- Passwords are stored as argon2id hashes (argon2-cffi's defaults, RFC 9106's second
  recommendation); a hash made with weaker parameters is upgraded at the next good login.
- The session cookie holds only the account id, the account's session version and when it
  was issued, signed with HMAC-SHA256 under a key derived from ``secret_key``; it is refused
  after ``SESSION_MAX_AGE``, whatever the browser keeps. Logging out or changing the
  password moves the version on in the store, which ends every session of that account on
  every worker. HttpOnly, SameSite=Lax, Secure when ``public_url`` is https.
- Five failed logins for one account, or from one client, within 15 minutes: 429 until
  the oldest of them is 15 minutes old. Counted in the store, so it holds across workers.
  A wrong current password in the password-change form counts as a failed login.
- CSRF: a POST must come from this site (``Sec-Fetch-Site: same-origin``, or an ``Origin``
  equal to the request's own) and carry the form token bound to the session.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.requests import Request

from bot.store import Store
from bot.store.desk import EditorAccount

COOKIE = "newsbot_desk"
SESSION_MAX_AGE = 12 * 3600  # seconds; the browser forgets the cookie after a working day
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LIMIT = 5
MIN_PASSWORD = 10

_hasher = PasswordHasher()  # argon2id
# Verifying against this when the account does not exist keeps the answer's timing the same.
# Made on first use, not at import: one hash costs ~0.3 s of CPU, which every process that
# imports the desk (newsbot run, the CLI) paid even when nobody logged in.
_DUMMY_HASH = ""


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if not _DUMMY_HASH:
        _DUMMY_HASH = _hasher.hash("not a real password, only for timing")
    return _DUMMY_HASH


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``; ValueError when it is too short to be one."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def check_password(store: Store, name: str, password: str, *, now: datetime
                   ) -> EditorAccount | None:
    """The account when ``password`` is right (rehashing it if its parameters are old)."""
    account = store.get_editor(name)
    try:
        _hasher.verify(account.password_hash if account else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if account is None:
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        store.rehash_editor_password(account.id, _hasher.hash(password), now=now)
    return account


# ------------------------------------------------------------------ the session cookie


def _key(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, f"newsbot desk {purpose}".encode(), hashlib.sha256).digest()


def _sign(secret: bytes, purpose: str, payload: str) -> str:
    return hmac.new(_key(secret, purpose), payload.encode(), hashlib.sha256).hexdigest()


def session_value(secret: bytes, account: EditorAccount, *, issued: datetime) -> str:
    payload = f"{account.id}.{account.session_version}.{int(issued.timestamp())}"
    return f"{payload}.{_sign(secret, 'session', payload)}"


@dataclass(frozen=True)
class Session:
    account: EditorAccount
    cookie: str
    csrf_token: str  # the form token: bound to this session, so it dies with it


def read_session(secret: bytes, store: Store, cookie: str | None, *, now: datetime
                 ) -> Session | None:
    """The session a cookie stands for, or None (forged, ended, older than
    ``SESSION_MAX_AGE``, or the account removed)."""
    if not cookie or cookie.count(".") != 3:
        return None
    ident, version, issued, signature = cookie.split(".")
    expected = _sign(secret, "session", f"{ident}.{version}.{issued}")
    if not hmac.compare_digest(signature, expected) or not ident.isdigit() \
            or not version.isdigit() or not issued.isdigit():
        return None
    # Max-Age only asks the browser to forget the cookie; a copy kept elsewhere ends here.
    if not 0 <= now.timestamp() - int(issued) <= SESSION_MAX_AGE:
        return None
    account = store.get_editor_by_id(int(ident))
    if account is None or account.session_version != int(version):
        return None
    return Session(account, cookie, _sign(secret, "csrf", cookie))


def set_cookie_header(value: str, *, secure: bool, max_age: int = SESSION_MAX_AGE) -> str:
    flags = f"; Path=/desk; HttpOnly; SameSite=Lax; Max-Age={max_age}"
    return f"{COOKIE}={value}{flags}{'; Secure' if secure else ''}"


# ------------------------------------------------------------------ CSRF


def same_site(request: Request) -> bool:
    """Whether the browser says this request comes from our own pages.

    ``Sec-Fetch-Site`` is sent by every current browser and cannot be set by a page; where
    it is missing, ``Origin`` must name this very host. A request with neither is refused.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def token_ok(session: Session, token: str) -> bool:
    return bool(token) and hmac.compare_digest(token, session.csrf_token)


# ------------------------------------------------------------------ login limits


def login_keys(name: str, client: str) -> list[str]:
    return [f"account:{name.casefold()[:100]}", f"client:{client}"]


def login_wait(store: Store, keys: list[str], *, now: datetime) -> float:
    """Seconds until another login may be tried (0: now)."""
    wait = 0.0
    for key in keys:
        failures = store.login_failures(key, since=now - LOGIN_WINDOW)
        if len(failures) >= LOGIN_LIMIT:
            oldest = failures[-LOGIN_LIMIT]
            wait = max(wait, (oldest + LOGIN_WINDOW - now).total_seconds())
    return wait
