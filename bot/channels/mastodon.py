"""The Mastodon channel: posts statuses to one account through Mastodon.py.

Before its first post (and once a day) the sender reads the instance's limits from
``/api/v2/instance`` and remembers them for the renderer (bot/channels/mastodon_length.py).
A post's language, content warning and visibility come from its front matter
(bot/channels/mastodon_post.py), else from the channel's settings. The lead image, fetched
under the outbound-URL policy, is uploaded with its alt text as the media description.
Mastodon.py is blocking, so every call runs in a worker thread, one at a time per channel.

Every status carries an ``Idempotency-Key`` derived from the channel, the article and the
text, so the same post always has the same key and Mastodon answers a repeat with the status
it already made. That is what makes a lost answer retryable here, where other platforms must
call it unknown. What a failed send means, as dispatch needs it (``bot.errors``):

- 429 → ``RateLimitedError`` until ``X-RateLimit-Reset`` (the image waits with the post);
- 401, 403 → ``AuthError``; 422 and other 4xx → ``PermanentError`` with Mastodon's words;
- 5xx, connection refused → ``RetryableError``;
- no answer after sending (read timeout, connection lost) → ``RetryableError`` soon, within
  the hour Mastodon keeps the key; past that hour ``UnknownOutcomeError``.

The image is best effort: if it cannot be fetched or uploaded the post goes out without it
and ``Receipt.note`` says why. The access token never reaches a log record or an error.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
import urllib3.exceptions
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from bot.channels.image_fetch import MediaFailure, fetch_image
from bot.channels.mastodon_length import (
    InstanceRules,
    known_rules,
    remember,
    rules_age,
    rules_from_instance,
)
from bot.channels.mastodon_media import description, file_name
from bot.channels.mastodon_platform import MastodonChannel, make_format
from bot.channels.mastodon_post import PostParts, language_code, split_post
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

#: Mastodon keeps a status's Idempotency-Key for an hour (PostStatusService, ``setex 3600``).
IDEMPOTENCY_WINDOW = 3600.0
#: A send whose answer was lost is retried this soon: well inside that hour, and long after
#: the first request has finished on the server (Mastodon holds a lock per key meanwhile).
LOST_ANSWER_RETRY = 30.0
#: Past this since a try that may have posted, the key may be forgotten: not sent again.
SAFE_RETRY_AGE = IDEMPOTENCY_WINDOW - 10 * 60
#: The instance's limits are asked again after this long.
INSTANCE_MAX_AGE = 24 * 3600.0
#: Edits need 3.5 and /api/v2/instance 4.0; saying so spares Mastodon.py a version probe.
MASTODON_VERSION = "4.0.0"
MEDIA_PROCESSING_POLLS = 5


def make_channel(name: str, cfg: MastodonChannel, config: Config) -> MastodonSender:
    """The real sender for a Mastodon channel; raises ``ConfigError`` without a token."""
    return MastodonSender(name, cfg, user_agent=config.fetch.user_agent,
                          url_policy=UrlPolicy.allowing(config.fetch.allow_private))


def idempotency_key(channel: str, article_id: int, text: str) -> str:
    """The same key for the same post (channel, article, rendered text) on every try, and a
    different one for a changed text, so a corrected post is never mistaken for the old."""
    text_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    digest = hashlib.sha256(f"{channel}\n{article_id}\n{text_hash}".encode()).hexdigest()
    return f"newsbot-{digest[:40]}"


class AnswerLostError(RetryableError):
    """The request went out and no answer came back. Safe to repeat only where the request
    is idempotent (a status with its key, an edit, a read)."""


class MastodonSender:
    """Posts rendered posts (with their image) to one Mastodon account, and edits them."""

    def __init__(self, name: str, cfg: MastodonChannel, *, user_agent: str = "newsbot",
                 url_policy: UrlPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        token = cfg.access_token.get_secret_value() if cfg.access_token else ""
        if not token:
            raise ConfigError(f"channels.{name}", "Mastodon needs access_token (set it "
                              "through a ${VAR} environment reference)")
        install_redaction(token)  # before any request is made or logged
        self.name = name
        self._cfg = cfg
        self._fmt = make_format(cfg)
        self._api_url = cfg.api_url.rstrip("/")
        self._timeout = max(cfg.timeout.total_seconds(), 0.05)
        self._clock = clock
        self._session = requests.Session()
        self._client = Mastodon(
            access_token=token, api_base_url=self._api_url,
            ratelimit_method="throw",  # never sleep in a worker thread; dispatch reschedules
            request_timeout=(min(5.0, self._timeout), self._timeout),  # type: ignore[arg-type]
            # "created" with a version given: no probe, and the endpoints 4.0 has (POST
            # /api/v2/media); "none" would make Mastodon.py assume 1.0 and its old ones.
            mastodon_version=MASTODON_VERSION, version_check_mode="created",
            session=self._session, user_agent=user_agent,
        )
        # The image URL comes from the feed: fetched under the outbound-URL policy.
        self._http = untrusted_client(
            url_policy or UrlPolicy(), timeout=self._timeout, follow_redirects=True,
            max_redirects=5, headers={"User-Agent": user_agent},
        )
        self._lock = asyncio.Lock()
        # Article → the key of a try that may have posted it, and since when (this process).
        self._uncertain: dict[int, tuple[str, float]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"MastodonSender(name={self.name!r}, api_url={self._api_url!r})"

    async def send(self, post: RenderedPost) -> Receipt:
        """Post ``post`` (image included); see the module docstring for errors."""
        parts = self._parts(post)
        async with self._lock:
            rules, changed = await self._instance_rules()
            measured = self._fmt.measure(post.text, with_media=False)
            if changed and measured.length > measured.limit:
                # Rendered before this instance's limit was known: the next try renders
                # again, for the limit now remembered.
                raise RetryableError(self.name, f"{measured.problem}; rendering it again "
                                     "for this limit", retry_after=1.0)
            notes: list[str] = []
            media_id: str | None = None
            if post.image_url and self._cfg.media:
                try:
                    media_id = await self._upload(post, parts, rules)
                except MediaFailure as exc:
                    notes.append(f"sent without image: {redact(str(exc))}")
                    log.warning("%s: image not attached: %s", self.name, exc)
            status, key = await self._create(post, parts, media_id)
        status_id = str(status.get("id") or "")
        if not status_id:
            raise UnknownOutcomeError(self.name, "Mastodon accepted the post but sent no id")
        extra = {"idempotency_key": key}
        if media_id:
            extra["media_id"] = media_id
        log.info("%s: posted %s", self.name, status_id)
        return Receipt(platform_id=status_id, url=str(status.get("url") or ""),
                       note="; ".join(notes), extra=extra)

    async def edit(self, platform_id: str, post: RenderedPost) -> Receipt:
        """Replace the text and content warning of status ``platform_id`` with ``post``'s
        (``PUT /api/v1/statuses/:id``); its image stays. Errors as ``send``; repeating an
        edit leaves the same post, so a lost answer is retryable."""
        parts = self._parts(post)
        async with self._lock:
            await self._instance_rules()
            current = await self._call("read the post to edit", self._client.status,
                                       platform_id, replayable=True)
            # Mastodon drops the attachments of an edit that does not list them again.
            media_ids = [str(m["id"]) for m in current.get("media_attachments") or []]
            status = await self._call(
                "edit", self._client.status_update, platform_id, status=parts.body,
                spoiler_text=self._spoiler(parts), media_ids=media_ids or None,
                replayable=True)
        log.info("%s: edited %s", self.name, platform_id)
        return Receipt(platform_id=str(status.get("id") or platform_id),
                       url=str(status.get("url") or ""), note="corrected in place",
                       extra={"edited_at": str(status.get("edited_at") or "")})

    async def account(self) -> tuple[str, InstanceRules]:
        """The account the token belongs to (``@name``) and its instance's limits; nothing
        is posted (``GET /api/v1/accounts/verify_credentials``)."""
        async with self._lock:
            rules, _ = await self._instance_rules()
            answer = await self._call("verify the token",
                                      self._client.account_verify_credentials, replayable=True)
        return str(answer.get("acct") or answer.get("username") or ""), rules

    async def close(self) -> None:
        """Close the HTTP connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._session.close()
        await self._http.aclose()

    # -- internals ------------------------------------------------------------------------

    def _parts(self, post: RenderedPost) -> PostParts:
        parts = split_post(post.text)
        if parts.problem:
            raise PermanentError(self.name, f"the template's {parts.problem}")
        if not parts.body:
            raise PermanentError(self.name, "the post is empty (only front matter)")
        return parts

    def _spoiler(self, parts: PostParts) -> str:
        return parts.spoiler or self._cfg.spoiler_text

    async def _instance_rules(self) -> tuple[InstanceRules, bool]:
        """The instance's limits (asked at most once a day), and whether they differ from
        what the renderer assumed until now."""
        before = known_rules(self._api_url)
        age = rules_age(self._api_url)
        if before is not None and age is not None and age < INSTANCE_MAX_AGE:
            return before, False
        try:
            answer = await self._call("read the instance's limits", self._client.instance_v2,
                                      replayable=True)
        except (AuthError, RateLimitedError):
            raise
        except PermanentError as exc:
            # Not Mastodon 4 (no /api/v2/instance): its defaults, without asking each time.
            log.warning("%s: %s; assuming Mastodon's defaults (500 characters)", self.name,
                        exc.problem)
            rules = before or InstanceRules()
            remember(self._api_url, rules)
            return rules, False
        except ChannelError as exc:
            log.warning("%s: %s; going by what is known", self.name, exc.problem)
            return before or InstanceRules(), False
        rules = rules_from_instance(answer)
        remember(self._api_url, rules)
        if rules != before:
            log.info("%s: %s takes posts of up to %d characters", self.name, self._api_url,
                     rules.max_characters)
        return rules, rules != (before or InstanceRules())

    async def _upload(self, post: RenderedPost, parts: PostParts, rules: InstanceRules) -> str:
        assert post.image_url
        data, media_type = await fetch_image(self._http, post.image_url,
                                             max_bytes=rules.image_bytes,
                                             types=rules.image_types, taker="the instance")
        alt = description(post.image_alt or parts.body.split("\n", 1)[0],
                          rules.description_characters)
        upload = functools.partial(self._client.media_post, io.BytesIO(data),
                                   mime_type=media_type, description=alt or None,
                                   file_name=file_name(media_type))
        try:
            # Up to 16 MB goes up: requests' timeouts bound each read, this the whole upload.
            media = await self._call("image upload", upload, replayable=True, requests_made=4)
            for _ in range(MEDIA_PROCESSING_POLLS):
                if media.get("url"):
                    break
                # 202: still processing; a status may not carry it yet.
                await asyncio.sleep(1.0)
                media = await self._call("image processing", self._client.media,
                                         str(media["id"]), replayable=True)
        except (AuthError, RateLimitedError):
            raise  # the post waits, its image with it
        except ChannelError as exc:
            raise MediaFailure(exc.problem) from None
        if not media.get("url"):
            raise MediaFailure("the instance was still processing the image")
        return str(media["id"])

    async def _create(self, post: RenderedPost, parts: PostParts, media_id: str | None
                      ) -> tuple[Mapping[str, Any], str]:
        """Post the status; returns it and the Idempotency-Key it went with."""
        now = self._clock()
        key = idempotency_key(self.name, post.article_id, post.text)
        earlier = self._uncertain.get(post.article_id)
        if earlier is not None:
            # A try whose answer was lost may have posted this article: repeat its key even
            # when the text has changed since (rendered again for a limit learnt meanwhile,
            # or a feed edit), so Mastodon answers with that status instead of a second one.
            key, since = earlier
            if now - since > SAFE_RETRY_AGE:
                del self._uncertain[post.article_id]  # whoever retries it has looked
                raise UnknownOutcomeError(
                    self.name, f"a try {(now - since) / 60:.0f} minutes ago may have posted "
                    "this, and Mastodon remembers a post's key for an hour only; not sent "
                    "again. Look at the account, and `newsbot retry` it if the post is missing")
        language = parts.language or language_code(self._cfg.language or "")
        call = functools.partial(
            self._client.status_post, parts.body,
            visibility=parts.visibility or self._cfg.visibility,
            spoiler_text=self._spoiler(parts) or None, language=language or None,
            media_ids=[media_id] if media_id else None, idempotency_key=key)
        try:
            # A lost answer is retryable here only because of the key: Mastodon answers a
            # repeat within the hour with the status the first request made, never a second.
            status: Mapping[str, Any] = await self._call("post", call, replayable=True)
        except AnswerLostError:
            self._uncertain.setdefault(post.article_id, (key, now))
            raise
        self._uncertain.pop(post.article_id, None)
        return status, key

    async def _call(self, what: str, function: Callable[..., Any], *args: Any,
                    replayable: bool, requests_made: int = 1, **kwargs: Any) -> Any:
        """``function`` in a worker thread, its failure translated to a channel error.

        ``replayable``: repeating the request cannot do anything twice, so an answer lost
        after sending is an ``AnswerLostError`` (retryable) rather than an unknown outcome.
        """
        # A 429 leaves the reset time here; clear it so an older one is never read.
        self._client.ratelimit_reset = None  # type: ignore[assignment]  # typed int, is None too
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(functools.partial(function, *args, **kwargs)),
                requests_made * (self._timeout + min(5.0, self._timeout)) + 1.0)
        except TimeoutError:
            # A backstop: requests' own connect and read timeouts normally fire first.
            raise self._lost(what, f"no answer within {self._timeout:g}s", replayable) \
                from None
        except MastodonError as exc:
            raise self._translate(what, exc, replayable) from None

    def _lost(self, what: str, why: str, replayable: bool) -> ChannelError:
        if replayable:
            return AnswerLostError(self.name, f"{what}: {why}; trying again with the same "
                                   "Idempotency-Key, so it cannot post twice",
                                   retry_after=LOST_ANSWER_RETRY)
        return UnknownOutcomeError(self.name, f"{what}: {why}; it may have gone through")

    def _translate(self, what: str, exc: MastodonError, replayable: bool) -> ChannelError:
        """The typed channel error for a Mastodon.py failure."""
        name = self.name
        if isinstance(exc, MastodonRatelimitError):
            reset = self._client.ratelimit_reset
            after = max(1.0, float(reset) - time.time()) if reset else None
            when = f"; try again in {after:.0f}s" if after is not None else ""
            return RateLimitedError(name, f"{what}: rate limited by Mastodon (429){when}",
                                    retry_after=after)
        if isinstance(exc, MastodonNetworkError):
            return self._network(what, exc, replayable)
        if isinstance(exc, MastodonAPIError):
            status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
            words = redact(str(exc.args[3] if len(exc.args) > 3 and exc.args[3]
                               else (exc.args[2] if len(exc.args) > 2 else exc)))
            if isinstance(exc, MastodonUnauthorizedError) or status in (401, 403):
                return AuthError(name, f"{what}: Mastodon refused the access token or its "
                                 f"scopes ({status}): {words}")
            if isinstance(exc, MastodonServerError) or status >= 500:
                return RetryableError(name, f"{what}: Mastodon server error ({status}): "
                                      f"{words}")
            if isinstance(exc, MastodonNotFoundError):
                return PermanentError(name, f"{what}: not found on {self._api_url} (404): "
                                      f"{words}")
            if status:
                return PermanentError(name, f"{what}: Mastodon refused it ({status}): {words}")
            # An answer that could not be read (e.g. not JSON): it may have been done.
            return self._lost(what, "Mastodon's answer could not be read", replayable)
        return PermanentError(name, f"{what}: {redact(str(exc))}")

    def _network(self, what: str, exc: MastodonNetworkError, replayable: bool
                 ) -> ChannelError:
        """Did the request leave the machine? Not: retry. Perhaps: see ``_lost``."""
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, requests.ConnectTimeout | requests.exceptions.SSLError
                      | requests.exceptions.ProxyError):
            return RetryableError(self.name, f"{what}: could not connect to {self._api_url}: "
                                  f"{type(cause).__name__}")
        if isinstance(cause, requests.ReadTimeout):
            return self._lost(what, f"no answer within {self._timeout:g}s", replayable)
        if isinstance(cause, requests.ConnectionError):
            reason = cause.args[0] if cause.args else None
            reason = getattr(reason, "reason", reason)
            if isinstance(reason, urllib3.exceptions.NewConnectionError):
                return RetryableError(self.name, f"{what}: could not connect to "
                                      f"{self._api_url}: {type(reason).__name__}")
            return self._lost(what, "the connection broke", replayable)
        if isinstance(cause, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return PermanentError(self.name, f"api_url is not a usable URL ({self._api_url})")
        return self._lost(what, f"the request failed ({type(cause).__name__})", replayable)
