"""The Bluesky channel: posts through the atproto SDK's XRPC client to the account's PDS.

``api_url`` is the PDS (or the ``https://bsky.social`` entryway, which serves every account
it hosts); methods are called at ``{api_url}/xrpc/{nsid}``. The account signs in with an app
password (``com.atproto.server.createSession``) on the first send, and the session is kept for
every later post: createSession is limited to 30 an account in five minutes and 300 a day.
The access token is refreshed (``refreshSession``) shortly before it expires, and again if the
PDS says ``ExpiredToken``; a refresh token the PDS no longer takes means signing in again.

A post is one ``app.bsky.feed.post`` record: the text, its links and hashtags as facets
(bot/channels/bluesky_facets.py), ``langs`` (the template's front matter gives the
article's; else the channel's, bot/channels/bluesky_text.py), and a link card
(``app.bsky.embed.external``) whose thumbnail is the article's image uploaded as a blob
(bot/channels/bluesky_card.py).
Bluesky cannot edit a record's text once out, so corrections are not sent here.

What a failed send means, as dispatch needs it (``bot.errors``):

- 429 → ``RateLimitedError``, ``retry_after`` from ``ratelimit-reset`` (epoch seconds);
- 400 ``InvalidRequest`` and other refusals → ``PermanentError`` with the PDS's words;
- 401, or a sign-in refused (wrong handle or app password, account taken down) →
  ``AuthError``;
- 5xx, and a request that never left this machine (connection refused, connect timeout) →
  ``RetryableError``;
- no answer after the post was sent (read timeout, connection lost) → ``UnknownOutcomeError``.

The app password (and the sign-in's tokens) are registered with ``bot.redact`` before they
are sent; no log line or error message is built from a request or its headers, only from the
PDS's error name and message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pydantic
from atproto_client import AsyncClient, models
from atproto_client import exceptions as atp
from atproto_client.models.blob_ref import BlobRef
from atproto_client.models.common import XrpcError
from atproto_client.models.utils import get_response_model
from atproto_client.request import AsyncRequest

from bot.channels.bluesky_card import ThumbSkipped, card_text, fetch_thumb
from bot.channels.bluesky_facets import Facet, find_facets
from bot.channels.bluesky_platform import BlueskyChannel, post_languages
from bot.channels.bluesky_text import split_post, text_problem
from bot.config import Config
from bot.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UnknownOutcomeError,
)
from bot.models import Receipt, RenderedPost
from bot.redact import install_redaction, redact
from bot.urlpolicy import UrlPolicy, untrusted_client

log = logging.getLogger(__name__)

POST_URL = "https://bsky.app/profile/{did}/post/{rkey}"
#: Refresh the access token this long before the expiry its JWT states (clocks differ).
REFRESH_MARGIN_SECONDS = 60.0
SIGN_IN = "sign-in"
_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
# httpx exceptions that mean the request never left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
             httpx.UnsupportedProtocol, httpx.LocalProtocolError)

T = TypeVar("T")
Call = Callable[[dict[str, str]], Awaitable[T]]


@dataclass
class _Session:
    did: str
    handle: str
    access: str
    refresh: str
    access_expires: float | None  # epoch seconds, from the token; None: unknown


class _TokenRefused(Exception):
    """The PDS refused the access token (expired or revoked): refresh and try once more."""


class BlueskySender:
    """Posts rendered posts to one Bluesky account. Safe to share between tasks."""

    def __init__(self, name: str, cfg: BlueskyChannel, *, langs: tuple[str, ...] = (),
                 user_agent: str = "newsbot", url_policy: UrlPolicy | None = None) -> None:
        self.name = name
        self._identifier, self._password = _credentials(name, cfg)
        install_redaction(self._password)
        self._api_url = cfg.api_url.rstrip("/")
        self._langs = list(langs)
        self._thumbnail = cfg.thumbnail
        self._timeout = max(cfg.timeout.total_seconds(), 0.05)
        timeout = httpx.Timeout(self._timeout, connect=min(self._timeout, 10.0))
        self._client = AsyncClient(self._api_url, request=AsyncRequest(timeout=timeout))
        self._client.request.add_additional_header("User-Agent", user_agent)
        # The thumbnail URL comes from the feed: fetched under the outbound-URL policy.
        self._http = untrusted_client(url_policy or UrlPolicy(), timeout=self._timeout,
                                      follow_redirects=True, max_redirects=5,
                                      headers={"User-Agent": user_agent})
        self._session: _Session | None = None
        self._session_lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"BlueskySender(name={self.name!r}, api_url={self._api_url!r})"

    async def send(self, post: RenderedPost) -> Receipt:
        """Post ``post`` (facets, langs and link card included); errors as the module says."""
        parts = split_post(post.text)
        if parts.problem:
            raise PermanentError(self.name, f"not sent: the template's {parts.problem}")
        text = parts.body
        problem = text_problem(text)
        if problem:
            raise PermanentError(self.name, f"not sent: the text is {problem}; shorten it")
        langs = list(parts.langs or self._langs)
        notes: list[str] = []
        embed = await self._card(post, text, notes) if post.link else None
        try:
            record = models.AppBskyFeedPost.Record(
                text=text, created_at=_now_iso(), langs=langs or None, embed=embed,
                facets=_facet_models(find_facets(text)) or None)
        except pydantic.ValidationError as exc:  # what the lexicon refuses, refused here
            raise PermanentError(self.name, f"not sent: not a valid Bluesky post: "
                                 f"{redact(str(exc.errors()[0].get('msg', exc)))}") from None
        session = await self._signed_in()

        async def create(auth: dict[str, str]) -> models.ComAtprotoRepoCreateRecord.Response:
            data = models.ComAtprotoRepoCreateRecord.Data(
                repo=session.did, collection="app.bsky.feed.post", record=record)
            return await self._client.com.atproto.repo.create_record(data, headers=auth)

        created = await self._call("post", create, may_have_posted=True)
        uri, cid = str(created.uri), str(created.cid)
        rkey = uri.rsplit("/", 1)[-1]
        log.info("%s: posted %s", self.name, uri)
        extra = {"cid": cid}
        if embed is not None and embed.external.thumb is not None:
            extra["thumb"] = str(embed.external.thumb.cid)
        return Receipt(platform_id=uri, url=POST_URL.format(did=session.did, rkey=rkey),
                       note="; ".join(notes), extra=extra)

    async def profile(self) -> str:
        """Sign in and read the account's profile; nothing is posted (``check --online``).
        Returns "@handle" plus what the profile says, for a person to recognise it."""
        session = await self._signed_in()

        async def get(auth: dict[str, str]) -> models.AppBskyActorDefs.ProfileViewDetailed:
            params = models.AppBskyActorGetProfile.Params(actor=session.did)
            return await self._client.app.bsky.actor.get_profile(params, headers=auth)

        try:
            found = await self._call("profile", get)
        except PermanentError as exc:
            if isinstance(exc, AuthError):
                raise
            return f"@{session.handle} (the PDS serves no profiles: {exc.problem})"
        name = f" ({found.display_name})" if found.display_name else ""
        return f"@{found.handle}{name}, {found.followers_count or 0} followers"

    async def close(self) -> None:
        """Close the HTTP connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._client.request.close()
        await self._http.aclose()

    # -- the link card ----------------------------------------------------------------------

    async def _card(self, post: RenderedPost, text: str, notes: list[str]
                    ) -> models.AppBskyEmbedExternal.Main:
        title, description = card_text(text, post.image_alt)
        thumb = None
        if post.image_url and self._thumbnail:
            try:
                data, media_type = await fetch_thumb(self._http, post.image_url)
                thumb = await self._upload(data, media_type)
            except ThumbSkipped as exc:
                notes.append(f"card without thumbnail: {redact(str(exc))}")
                log.warning("%s: card without thumbnail: %s", self.name, exc)
        return models.AppBskyEmbedExternal.Main(external=models.AppBskyEmbedExternal.External(
            uri=post.link, title=title, description=description, thumb=thumb))

    async def _upload(self, data: bytes, media_type: str) -> BlobRef:
        async def upload(auth: dict[str, str]) -> models.ComAtprotoRepoUploadBlob.Response:
            response = await self._client.invoke_procedure(
                "com.atproto.repo.uploadBlob", content=data,
                headers={**auth, "Content-Type": media_type})
            return get_response_model(response, models.ComAtprotoRepoUploadBlob.Response)

        try:
            uploaded = await self._call("thumbnail upload", upload)
        except ChannelError as exc:
            # A refused account or a rate limit holds the post too; anything else costs
            # only the thumbnail.
            if isinstance(exc, AuthError | RateLimitedError):
                raise
            raise ThumbSkipped(f"thumbnail upload failed: {exc.problem}") from None
        return uploaded.blob

    # -- the session ------------------------------------------------------------------------

    async def _signed_in(self) -> _Session:
        """The session, signing in or refreshing the access token when it is due."""
        async with self._session_lock:
            session = self._session
            if session is None:
                session = self._session = await self._create_session()
            elif session.access_expires is not None and \
                    session.access_expires - time.time() < REFRESH_MARGIN_SECONDS:
                session = self._session = await self._refresh_session(session)
            return session

    async def _renew(self, refused: _Session) -> _Session:
        """A new access token after the PDS refused ``refused``'s (unless another task has
        already renewed it)."""
        async with self._session_lock:
            if self._session is not None and self._session.access != refused.access:
                return self._session
            self._session = await self._refresh_session(refused)
            return self._session

    async def _create_session(self) -> _Session:
        data = models.ComAtprotoServerCreateSession.Data(
            identifier=self._identifier, password=self._password)
        try:
            answer = await self._guarded(
                SIGN_IN, self._client.com.atproto.server.create_session(data), False)
        except PermanentError as exc:
            raise AuthError(self.name, f"Bluesky refused the sign-in as {self._identifier}: "
                            f"{exc.problem}; check handle and the app password") from None
        log.info("%s: signed in to %s as %s", self.name, self._api_url, answer.handle)
        # The sign-in's tokens are registered with the log redaction. Refreshed ones are not:
        # the pattern only grows, by two tokens every two hours for as long as the bot runs,
        # and no library here logs a request's headers or body.
        install_redaction(answer.access_jwt, answer.refresh_jwt)
        return self._keep(answer.did, answer.handle, answer.access_jwt, answer.refresh_jwt)

    async def _refresh_session(self, session: _Session) -> _Session:
        """refreshSession with the refresh token; signs in again when the PDS refuses it."""
        auth = {"Authorization": f"Bearer {session.refresh}"}
        try:
            answer = await self._guarded(
                "session refresh",
                self._client.com.atproto.server.refresh_session(headers=auth), False)
        except (_TokenRefused, PermanentError):
            log.info("%s: refresh token refused; signing in again", self.name)
            return await self._create_session()
        return self._keep(answer.did, answer.handle, answer.access_jwt, answer.refresh_jwt)

    def _keep(self, did: str, handle: str, access: str, refresh: str) -> _Session:
        return _Session(str(did), str(handle), access, refresh, _jwt_expiry(access))

    # -- requests ---------------------------------------------------------------------------

    async def _call(self, step: str, call: Call[T], *, may_have_posted: bool = False) -> T:
        """``call`` with the access token; refreshed once if the PDS refuses it."""
        session = await self._signed_in()
        try:
            return await self._guarded(step, call(_bearer(session)), may_have_posted)
        except _TokenRefused:
            log.info("%s: access token refused; refreshing the session", self.name)
        session = await self._renew(session)
        try:
            return await self._guarded(step, call(_bearer(session)), may_have_posted)
        except _TokenRefused:
            raise AuthError(self.name, "Bluesky refused a freshly refreshed session; check "
                            "the account and the app password") from None

    async def _guarded(self, step: str, request: Awaitable[T], may_have_posted: bool) -> T:
        """Await ``request`` under a deadline, its failures as typed channel errors."""
        try:
            async with asyncio.timeout(2 * self._timeout + 5.0):
                return await request
        except TimeoutError:
            if may_have_posted:
                raise UnknownOutcomeError(self.name, f"no answer from Bluesky within "
                                          f"{self._timeout:g}s; the post may be out") from None
            raise RetryableError(self.name, f"{step}: no answer from Bluesky within "
                                 f"{self._timeout:g}s") from None
        except (atp.AtProtocolError, httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _translate(self.name, step, exc, may_have_posted=may_have_posted) from None


def _translate(name: str, step: str, exc: Exception, *, may_have_posted: bool
               ) -> ChannelError | _TokenRefused:
    """The typed channel error for an atproto or httpx failure of one request."""
    response = getattr(exc, "response", None)
    if isinstance(exc, atp.RequestErrorBase) and response is not None:
        status = int(response.status_code)
        error, message = _xrpc_error(response.content)
        words = redact(f"{error}: {message}" if message else error or f"HTTP {status}")
        if isinstance(exc, atp.RateLimitExceededError) or status == 429:
            after = retry_after(response.headers, time.time())
            when = f"; try again in {after:.0f}s" if after is not None else ""
            return RateLimitedError(name, f"{step}: rate limited by Bluesky (429){when}",
                                    retry_after=after)
        if step != SIGN_IN and (error in _TOKEN_ERRORS or status == 401):
            return _TokenRefused(error)
        if status in (401, 403) or error in ("AuthenticationRequired", "AccountTakedown",
                                             "AuthFactorTokenRequired"):
            return AuthError(name, f"{step}: Bluesky refused the account ({status}): {words}")
        if status >= 500:
            return RetryableError(name, f"{step}: Bluesky server error ({status}): {words}")
        return PermanentError(name, f"{step}: Bluesky refused it ({status}): {words}")
    if isinstance(exc, atp.ModelError):
        if may_have_posted:
            return UnknownOutcomeError(name, "Bluesky's answer to the post was not "
                                       "understood; the post may be out")
        return RetryableError(name, f"{step}: Bluesky's answer was not understood")
    cause = exc.__cause__ if isinstance(exc, atp.AtProtocolError) else exc
    if isinstance(cause, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return PermanentError(name, "api_url is not a usable URL")
    if isinstance(cause, _NOT_SENT) or not may_have_posted:
        kind = type(cause).__name__ if cause is not None else type(exc).__name__
        return RetryableError(name, f"{step}: could not reach Bluesky: {kind}")
    return UnknownOutcomeError(name, "the connection to Bluesky broke after the post was "
                               "sent; the post may be out")


def _xrpc_error(content: Any) -> tuple[str, str]:
    if isinstance(content, XrpcError):
        return str(content.error or ""), str(content.message or "")
    if isinstance(content, dict):
        return str(content.get("error") or ""), str(content.get("message") or "")
    return "", ""


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until the PDS's rate limit resets: ``ratelimit-reset`` (epoch seconds), else
    ``retry-after`` (seconds); None when it gave neither."""
    reset = str(headers.get("ratelimit-reset", "")).strip()
    if reset.isdigit():
        return max(0.0, int(reset) - now)
    wait = str(headers.get("retry-after", "")).strip()
    if wait.isdigit():
        return float(wait)
    return None


def _bearer(session: _Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {session.access}"}


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` a JWT states (read, not verified: only the PDS can verify it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp") if isinstance(claims, dict) else None
    except (IndexError, ValueError, binascii.Error):
        return None
    return float(exp) if isinstance(exp, int | float) else None


def _facet_models(facets: tuple[Facet, ...]) -> list[models.AppBskyRichtextFacet.Main]:
    made = []
    for facet in facets:
        feature: models.AppBskyRichtextFacet.Link | models.AppBskyRichtextFacet.Tag
        if facet.kind == "link":
            feature = models.AppBskyRichtextFacet.Link(uri=facet.value)
        else:
            feature = models.AppBskyRichtextFacet.Tag(tag=facet.value)
        made.append(models.AppBskyRichtextFacet.Main(
            features=[feature], index=models.AppBskyRichtextFacet.ByteSlice(
                byte_start=facet.byte_start, byte_end=facet.byte_end)))
    return made


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _credentials(name: str, cfg: BlueskyChannel) -> tuple[str, str]:
    password = cfg.app_password.get_secret_value() if cfg.app_password else ""
    missing = [key for key, value in (("handle", cfg.handle), ("app_password", password))
               if not value]
    if missing:
        raise ConfigError(f"channels.{name}", f"Bluesky needs {', '.join(missing)} (set the "
                          "app password through a ${VAR} environment reference)")
    return str(cfg.handle).lstrip("@"), password


def make_channel(name: str, cfg: BlueskyChannel, config: Config) -> BlueskySender:
    """The real sender for a Bluesky channel; raises ``ConfigError`` without credentials."""
    return BlueskySender(name, cfg, langs=post_languages(cfg, config),
                         user_agent=config.fetch.user_agent,
                         url_policy=UrlPolicy.allowing(config.fetch.allow_private))
