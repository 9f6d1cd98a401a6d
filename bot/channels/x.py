"""The X channel: posts through tweepy 4.17's ``Client.create_tweet`` with OAuth 1.0a.

tweepy hard-codes ``https://api.twitter.com``; rather than fork it, a requests transport
adapter mounted on tweepy's own session sends each request to ``api_url`` (the official host,
a proxy, or the tests' local server), signs it with OAuth 1.0a for the URL actually requested,
and gives it the channel's timeouts (tweepy sets none). tweepy is blocking, so every call runs
in a worker thread.

What a failed send means, as dispatch needs it (``bot.errors``):

- 403 duplicate content → ``DuplicateContentError`` (final; never retried);
- 429 → ``RateLimitedError`` with ``retry_after`` from ``x-rate-limit-reset`` and, when their
  remaining count is 0, the 24-hour user and app limit headers;
- 5xx, and connection errors before the request went out → ``RetryableError``;
- a read timeout (or a connection lost) after sending → ``UnknownOutcomeError``;
- 401, 402 and any other 403 → ``AuthError`` (a person must look); other 4xx →
  ``PermanentError``.

The image is best effort: if it cannot be fetched or uploaded the post goes out without it
and ``Receipt.note`` says why. A thread's replies are best effort too once the first post is
out: failing a delivery whose first post is public would invite a duplicate on retry.
None of the four secrets, nor an OAuth signature, reaches a log record or an error message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import requests
import tweepy
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from tweepy.auth import OAuth1UserHandler

from bot.channels.image_fetch import MediaFailure
from bot.channels.x_length import normalize
from bot.channels.x_media import fetch_image, upload_image
from bot.channels.x_platform import XChannel, make_format  # noqa: F401
from bot.config import Config
from bot.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    DuplicateContentError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UnknownOutcomeError,
)
from bot.models import Receipt, RenderedPost
from bot.redact import install_redaction, redact
from bot.urlpolicy import UrlPolicy, untrusted_client

log = logging.getLogger(__name__)

TWEEPY_HOST = "https://api.twitter.com"
STATUS_URL = "https://x.com/i/web/status/{id}"

# oauthlib and requests-oauthlib log base strings, signatures and the Authorization header
# at DEBUG. Nothing they say below WARNING is worth a leaked signature.
_SIGNING_LOGGERS = (
    "oauthlib",
    "oauthlib.oauth1",
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
    "oauthlib.oauth1.rfc5849.utils",
    "requests_oauthlib",
    "requests_oauthlib.oauth1_auth",
    "requests_oauthlib.oauth1_session",
)
_OAUTH_PARAM = re.compile(
    r"(oauth_(?:signature|nonce|token|consumer_key|timestamp))"
    r"(=|%3D|%253D|\"?\s*:\s*)(\"[^\"]*\"|'[^']*'|[^\s&,\"']+)"
)


class _DropSigningDetail(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _guard_logs(secrets: tuple[str, ...]) -> None:
    install_redaction(*secrets)
    for name in _SIGNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropSigningDetail) for f in logger.filters):
            logger.addFilter(_DropSigningDetail())


def _scrub(text: str) -> str:
    """``text`` without registered secrets or OAuth parameters' values."""
    return _OAUTH_PARAM.sub(r"\1\2[REDACTED]", redact(text))


class _RoutingAdapter(HTTPAdapter):
    """Sends tweepy's requests to ``api_url``, signed for that URL, with timeouts."""

    def __init__(self, api_url: str, auth: Any, timeout: tuple[float, float]) -> None:
        super().__init__(max_retries=0)
        self._api_url = api_url
        self._auth = auth
        self._timeout = timeout

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Any:
        url = request.url or ""
        if url.startswith(TWEEPY_HOST + "/") and not self._api_url.startswith(TWEEPY_HOST):
            request.url = self._api_url + url[len(TWEEPY_HOST) :]
            # The session chose proxies for tweepy's host; choose them for the real one.
            proxies = requests.utils.get_environ_proxies(request.url)
        # An OAuth 1.0a signature covers the URL, so sign for the URL actually requested.
        request.headers.pop("Authorization", None)
        self._auth(request)
        return super().send(
            request, stream=stream, timeout=timeout if timeout is not None else self._timeout,
            verify=verify, cert=cert, proxies=proxies,
        )


class XSender:
    """Posts rendered posts (and their thread replies and image) to one X account."""

    def __init__(self, name: str, cfg: XChannel, *, user_agent: str = "newsbot",
                 url_policy: UrlPolicy | None = None) -> None:
        self.name = name
        self._cfg = cfg
        key, secret, token, token_secret = _credentials(name, cfg)
        _guard_logs((key, secret, token, token_secret))
        self._api_url = cfg.api_url.rstrip("/")
        self._timeout = max(cfg.timeout.total_seconds(), 0.05)
        self._client = tweepy.Client(
            consumer_key=key, consumer_secret=secret,
            access_token=token, access_token_secret=token_secret,
            wait_on_rate_limit=False,  # it ignores the 24-hour limits; dispatch reschedules
        )
        # The same OAuth1 auth tweepy builds for each of its requests.
        auth = OAuth1UserHandler(key, secret, token, token_secret).apply_auth()
        adapter = _RoutingAdapter(self._api_url, auth, (min(5.0, self._timeout), self._timeout))
        self._session: requests.Session = self._client.session
        self._session.mount(TWEEPY_HOST + "/", adapter)
        self._session.mount(self._api_url + "/", adapter)
        # The image URL comes from the feed: fetched under the outbound-URL policy.
        self._http = untrusted_client(
            url_policy or UrlPolicy(), timeout=self._timeout, follow_redirects=True,
            max_redirects=5, headers={"User-Agent": user_agent},
        )
        self._closed = False

    async def send(self, post: RenderedPost) -> Receipt:
        """Post ``post`` (image and thread included); see the module docstring for errors."""
        notes: list[str] = []
        media_id: str | None = None
        if post.image_url and self._cfg.media:
            try:
                media_id = await self._upload(post)
            except MediaFailure as exc:
                notes.append(f"sent without image: {_scrub(str(exc))}")
                log.warning("%s: image not attached: %s", self.name, exc)
        first = await self._create(post.text, media_id=media_id)
        ids = [first]
        for number, part in enumerate(post.thread, start=2):
            try:
                ids.append(await self._create(part, reply_to=ids[-1]))
            except ChannelError as exc:
                total = len(post.thread) + 1
                notes.append(f"thread stopped at part {number} of {total}: {exc.problem}")
                log.warning("%s: thread stopped at part %d: %s", self.name, number, exc)
                break
        extra = {"tweet_ids": ",".join(ids)}
        if media_id:
            extra["media_id"] = media_id
        log.info("%s: posted %s", self.name, first)
        return Receipt(
            platform_id=first, url=STATUS_URL.format(id=first), note="; ".join(notes),
            extra=extra,
        )

    async def account(self) -> str:
        """The @username the credentials belong to (GET /2/users/me); nothing is posted."""
        call = functools.partial(self._client.get_me, user_auth=True)
        try:
            response = await asyncio.wait_for(asyncio.to_thread(call), self._deadline(1))
        except TimeoutError:
            raise RetryableError(self.name, f"no answer from X within {self._timeout:g}s"
                                 ) from None
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise _translate(self.name, exc) from None
        user = getattr(response, "data", None)
        return str(getattr(user, "username", "") or "")

    async def close(self) -> None:
        """Close the HTTP connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._session.close()
        await self._http.aclose()

    async def _upload(self, post: RenderedPost) -> str:
        assert post.image_url
        data, media_type = await fetch_image(self._http, post.image_url)
        alt = post.image_alt or post.text.split("\n", 1)[0]
        upload = functools.partial(upload_image, self._session, self._api_url, data, media_type,
                                   alt)
        try:
            return await asyncio.wait_for(asyncio.to_thread(upload), self._deadline(12))
        except TimeoutError:
            raise MediaFailure("media upload timed out") from None

    async def _create(self, text: str, *, media_id: str | None = None,
                      reply_to: str | None = None) -> str:
        call = functools.partial(
            self._client.create_tweet, text=normalize(text), user_auth=True,
            media_ids=[media_id] if media_id else None, in_reply_to_tweet_id=reply_to,
        )
        try:
            response = await asyncio.wait_for(asyncio.to_thread(call), self._deadline(1))
        except TimeoutError:
            raise UnknownOutcomeError(
                self.name, f"no answer from X within {self._timeout:g}s; the post may be out"
            ) from None
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise _translate(self.name, exc) from None
        data = getattr(response, "data", None) or {}
        tweet_id = str(data.get("id", ""))
        if not tweet_id.isdigit():
            raise UnknownOutcomeError(self.name, "X accepted the post but sent no post id")
        return tweet_id

    def _deadline(self, requests_made: int) -> float:
        # A backstop only: requests' own connect and read timeouts normally fire first.
        return requests_made * (self._timeout + min(5.0, self._timeout)) + 1.0


def _credentials(name: str, cfg: XChannel) -> tuple[str, str, str, str]:
    fields = ("api_key", "api_secret", "access_token", "access_secret")
    values = [getattr(cfg, f) for f in fields]
    missing = [f for f, v in zip(fields, values, strict=True)
               if v is None or not v.get_secret_value()]
    if missing:
        raise ConfigError(
            f"channels.{name}",
            f"X needs {', '.join(missing)} (set them through ${{VAR}} environment references)",
        )
    key, secret, token, token_secret = (v.get_secret_value() for v in values)
    return key, secret, token, token_secret


def _translate(name: str, exc: Exception) -> ChannelError:
    """The typed channel error for a tweepy or requests failure of ``create_tweet``."""
    if isinstance(exc, tweepy.HTTPException):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        words = _scrub("; ".join(str(m) for m in exc.api_messages) or str(exc))
        if isinstance(exc, tweepy.TooManyRequests):
            after = retry_after(exc.response.headers, time.time())
            when = f"; try again in {after:.0f}s" if after is not None else ""
            return RateLimitedError(name, f"rate limited by X (429){when}", retry_after=after)
        if status == 403 and "duplicate" in words.lower():
            return DuplicateContentError(name, f"X refused a duplicate post: {words}")
        if status in (401, 402, 403):
            return AuthError(name, f"X refused the credentials or permissions ({status}): {words}")
        if status >= 500:
            return RetryableError(name, f"X server error ({status}): {words}")
        return PermanentError(name, f"X refused the post ({status}): {words}")
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError
                  | requests.exceptions.ProxyError):
        return RetryableError(name, f"could not connect to X: {type(exc).__name__}")
    if isinstance(exc, requests.ReadTimeout):
        return UnknownOutcomeError(name, "X did not answer in time; the post may be out")
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            return RetryableError(name, f"could not connect to X: {type(reason).__name__}")
        return UnknownOutcomeError(name, "the connection to X broke; the post may be out")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return PermanentError(name, "api_url is not a usable URL")
    return UnknownOutcomeError(name, f"sending to X failed: {_scrub(type(exc).__name__)}")


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until X's rate limits named in a 429's headers reset (the latest of them).

    ``x-rate-limit-reset`` always counts; the 24-hour user and app limits count when their
    ``-remaining`` header is 0. None when X gave no reset time.
    """
    resets: list[int] = []
    if str(headers.get("x-rate-limit-reset", "")).isdigit():
        resets.append(int(headers["x-rate-limit-reset"]))
    for prefix in ("x-user-limit-24hour", "x-app-limit-24hour"):
        reset = str(headers.get(f"{prefix}-reset", ""))
        if headers.get(f"{prefix}-remaining") == "0" and reset.isdigit():
            resets.append(int(reset))
    if not resets:
        return None
    return max(0.0, max(resets) - now)


def make_channel(name: str, cfg: XChannel, config: Config) -> XSender:
    """The real sender for an X channel; raises ``ConfigError`` when credentials are unset."""
    return XSender(name, cfg, user_agent=config.fetch.user_agent,
                   url_policy=UrlPolicy.allowing(config.fetch.allow_private))
