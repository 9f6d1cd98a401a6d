"""A local X API v2-compatible server for tests (aiohttp on loopback, in a background thread).

It runs in its own thread with its own event loop, so async tests, sync tests and ``newsbot``
subprocesses can all talk to it at ``base_url``. It does what the real API does to a bot:

- ``POST /2/tweets``: requires a well-formed OAuth 1.0a header and verifies its HMAC-SHA1
  signature with the known test secrets; rejects text that twitter-text v3 says is invalid
  (400), an exact duplicate of an earlier post (403, X's words); supports
  ``reply.in_reply_to_tweet_id`` and ``media.media_ids``.
- ``POST /2/media/upload`` (simple, multipart), ``/2/media/upload/initialize``,
  ``/2/media/upload/{id}/append``, ``/2/media/upload/{id}/finalize`` (chunked) and
  ``POST /2/media/metadata`` (alt text).
- ``GET /2/users/me``: the account the signed token belongs to (``check --online``).
- ``GET /images/{name}``: serves images registered with ``add_image`` (the articles' pictures).

Faults are queued per path prefix: ``fail``, ``rate_limit``, ``unauthorized``, ``hang``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from oauthlib.oauth1.rfc5849 import signature as oauth_sig
from twitter_text import parse_tweet

from tests.fakes.served_app import ServedApp

CONSUMER_KEY = "test-consumer-key-5mV7QxB2"
CONSUMER_SECRET = "test-consumer-secret-Jq81hZkX0a"
ACCESS_TOKEN = "1234567890-test-access-token-Pw3cYt"
ACCESS_SECRET = "test-access-secret-Lr5bNe02Uu"

#: The four secrets as the environment variables the sample config references.
ENV = {
    "X_API_KEY": CONSUMER_KEY,
    "X_API_SECRET": CONSUMER_SECRET,
    "X_ACCESS_TOKEN": ACCESS_TOKEN,
    "X_ACCESS_SECRET": ACCESS_SECRET,
}

ACCOUNT_USERNAME = "newsroom_test"  # GET /2/users/me
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
_OAUTH_REQUIRED = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_version",
    "oauth_signature",
)
_OAUTH_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')


@dataclass
class Tweet:
    id: str
    text: str
    reply_to: str | None = None
    media_ids: tuple[str, ...] = ()
    reply_settings: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Media:
    id: str
    media_type: str
    media_category: str
    total_bytes: int
    chunked: bool
    data: bytes = b""
    segments: int = 0
    finalized: bool = False
    alt_text: str | None = None


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    hang: bool = False
    skip: int = 0  # let this many matching requests through first


@dataclass
class Seen:
    """One request as the server received it (for assertions about what was sent)."""

    method: str
    path: str
    authorization: str
    status: int = 0


def _problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    body = {"title": title, "detail": detail, "type": "about:blank", "status": status, **extra}
    return web.json_response(body, status=status)


class FakeXApi:
    """The server's state and switches. Use through the ``x_api`` fixture."""

    def __init__(self) -> None:
        self.base_url = ""
        self.tweets: list[Tweet] = []
        self.media: dict[str, Media] = {}
        self.seen: list[Seen] = []
        self.images: dict[str, tuple[bytes, str]] = {}
        self.hang_seconds = 10.0
        self._faults: list[tuple[str, Fault]] = []
        self._next_id = 1_861_000_000_000_000_000
        self._lock = threading.Lock()
        self._served = ServedApp("fake-x-api")

    # ------------------------------------------------------------ switches

    def fail(
        self,
        status: int,
        *,
        path: str = "/2/tweets",
        times: int = 1,
        skip: int = 0,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """After ``skip`` more requests whose path starts with ``path`` succeed, the next
        ``times`` get ``status``."""
        with self._lock:
            for _ in range(times):
                self._faults.append((path, Fault(status, dict(headers or {}), body, skip=skip)))

    def rate_limit(
        self,
        reset_after: float,
        *,
        user_24h_reset_after: float | None = None,
        app_24h_reset_after: float | None = None,
        path: str = "/2/tweets",
    ) -> dict[str, str]:
        """Answer the next request with 429 and X's reset headers; returns those headers."""
        now = time.time()
        headers = {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(now + reset_after)),
        }
        if user_24h_reset_after is not None:
            headers["x-user-limit-24hour-limit"] = "17"
            headers["x-user-limit-24hour-remaining"] = "0"
            headers["x-user-limit-24hour-reset"] = str(int(now + user_24h_reset_after))
        if app_24h_reset_after is not None:
            headers["x-app-limit-24hour-limit"] = "1500"
            headers["x-app-limit-24hour-remaining"] = "0"
            headers["x-app-limit-24hour-reset"] = str(int(now + app_24h_reset_after))
        body = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                "status": 429}
        self.fail(429, path=path, headers=headers, body=body)
        return headers

    def unauthorized(self, *, times: int = 1, path: str = "/2/tweets") -> None:
        """Answer the next ``times`` requests with X's 401."""
        body = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                "detail": "Unauthorized"}
        self.fail(401, path=path, times=times, body=body)

    def hang(self, *, times: int = 1, path: str = "/2/tweets") -> None:
        """Accept the next ``times`` requests, then never answer (until the server stops)."""
        with self._lock:
            for _ in range(times):
                self._faults.append((path, Fault(0, hang=True)))

    def add_image(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Serve ``data`` at ``/images/<name>``; returns its URL."""
        self.images[name] = (data, content_type)
        return f"{self.base_url}/images/{name}"

    def channel_settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings for an X channel in config.yaml that posts here (secrets included)."""
        settings: dict[str, Any] = {
            "type": "x",
            "api_key": CONSUMER_KEY,
            "api_secret": CONSUMER_SECRET,
            "access_token": ACCESS_TOKEN,
            "access_secret": ACCESS_SECRET,
            "api_url": self.base_url,
            "timeout": 2,
        }
        settings.update(overrides)
        return settings

    @property
    def authorizations(self) -> list[str]:
        """Every Authorization header received, for secret-hygiene assertions."""
        return [s.authorization for s in self.seen if s.authorization]

    # ------------------------------------------------------------ plumbing

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, (prefix, fault) in enumerate(self._faults):
                if path.startswith(prefix):
                    if fault.skip:
                        fault.skip -= 1
                        return None
                    del self._faults[i]
                    return fault
        return None

    def _new_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return str(self._next_id)

    def _check_oauth(self, request: web.Request, form: dict[str, str] | None) -> str | None:
        """None when the OAuth 1.0a header is well formed and correctly signed, else why not."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return "missing OAuth 1.0a Authorization header"
        params: dict[str, str] = {}
        for part in header[len("OAuth ") :].split(","):
            match = _OAUTH_PARAM.fullmatch(part)
            if not match:
                return "malformed Authorization header"
            params[match[1]] = unquote(match[2])
        missing = [name for name in _OAUTH_REQUIRED if not params.get(name)]
        if missing:
            return f"Authorization header lacks {', '.join(missing)}"
        if params["oauth_signature_method"] != "HMAC-SHA1" or params["oauth_version"] != "1.0":
            return "unsupported OAuth signature method or version"
        if not params["oauth_timestamp"].isdigit():
            return "bad oauth_timestamp"
        if params["oauth_consumer_key"] != CONSUMER_KEY or params["oauth_token"] != ACCESS_TOKEN:
            return "unknown consumer key or token"
        collected = oauth_sig.collect_parameters(
            uri_query=request.url.raw_query_string,
            body=list(form.items()) if form else None,
            headers={"Authorization": header},
            exclude_oauth_signature=True,
        )
        base = oauth_sig.signature_base_string(
            request.method,
            oauth_sig.base_string_uri(str(request.url.with_query(None))),
            oauth_sig.normalize_parameters(collected),
        )
        secrets = SimpleNamespace(
            client_secret=CONSUMER_SECRET, resource_owner_secret=ACCESS_SECRET
        )
        expected = oauth_sig.sign_hmac_sha1_with_client(base, secrets)
        if expected != params["oauth_signature"]:
            return "OAuth signature does not match"
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        seen = Seen(request.method, request.path, request.headers.get("Authorization", ""))
        self.seen.append(seen)
        if request.path.startswith("/2/"):
            fault = self._take_fault(request.path)
            if fault is not None:
                if fault.hang:
                    assert self._served.release is not None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._served.release.wait(), self.hang_seconds)
                    return _problem(503, "Service Unavailable", "hung")
                seen.status = fault.status
                body = fault.body or {
                    "title": "Internal Server Error" if fault.status == 500 else "Error",
                    "detail": f"forced {fault.status}",
                    "type": "about:blank",
                    "status": fault.status,
                }
                return web.json_response(body, status=fault.status, headers=fault.headers)
            form: dict[str, str] | None = None
            if request.content_type == "application/x-www-form-urlencoded":
                form = {k: str(v) for k, v in (await request.post()).items()}
            why = self._check_oauth(request, form)
            if why is not None:
                seen.status = 401
                return _problem(401, "Unauthorized", why)
        response: web.StreamResponse = await handler(request)
        seen.status = response.status
        return response

    # ------------------------------------------------------------ endpoints

    async def _create_tweet(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _problem(400, "Invalid Request", "The request body is not valid JSON.")
        text = body.get("text")
        media_ids = tuple(str(i) for i in (body.get("media") or {}).get("media_ids", ()))
        if not isinstance(text, str) or (not text and not media_ids):
            return _invalid("text", "The `text` field is required when no media is attached.")
        if text and not parse_tweet(text).valid:
            return _invalid("text", "The text of your Tweet is too long or invalid.")
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None or not media.finalized:
                return _invalid("media.media_ids", f"Your media IDs are invalid: {media_id}")
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to is not None and not any(t.id == reply_to for t in self.tweets):
            return _problem(
                403, "Forbidden",
                "You attempted to reply to a Tweet that is deleted or not visible to you.",
            )
        if text and any(t.text == text for t in self.tweets):
            return _problem(403, "Forbidden", DUPLICATE_DETAIL)
        tweet = Tweet(self._new_id(), text, reply_to, media_ids, body.get("reply_settings"), body)
        self.tweets.append(tweet)
        return web.json_response(
            {"data": {"id": tweet.id, "text": text, "edit_history_tweet_ids": [tweet.id]}},
            status=201,
        )

    async def _users_me(self, request: web.Request) -> web.Response:
        """The account the (already verified) OAuth 1.0a token belongs to."""
        return web.json_response({"data": {"id": "1", "name": "Newsroom",
                                           "username": ACCOUNT_USERNAME}})

    async def _simple_upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("media")
        if not isinstance(upload, web.FileField):
            return _invalid("media", "The `media` field is required.")
        data = upload.file.read()
        category = str(form.get("media_category", "tweet_image"))
        media_type = str(form.get("media_type") or upload.content_type)
        if not media_type.startswith("image/"):
            return _invalid("media_type", f"Unsupported media type {media_type}.")
        media = Media(self._new_id(), media_type, category, len(data), False, data, 1, True)
        self.media[media.id] = media
        return web.json_response({"data": _media_data(media)})

    async def _initialize(self, request: web.Request) -> web.Response:
        body = await request.json()
        total = body.get("total_bytes")
        media_type = body.get("media_type")
        if not isinstance(total, int) or not isinstance(media_type, str):
            return _invalid("total_bytes", "`total_bytes` and `media_type` are required.")
        media = Media(self._new_id(), media_type, body.get("media_category", ""), total, True)
        self.media[media.id] = media
        return web.json_response(
            {"data": {"id": media.id, "media_key": f"3_{media.id}", "expires_after_secs": 86400}}
        )

    async def _append(self, request: web.Request) -> web.Response:
        media = self.media.get(request.match_info["id"])
        if media is None or media.finalized:
            return _problem(400, "Invalid Request", "Unknown or finalized media id.")
        form = await request.post()
        upload = form.get("media")
        segment = str(form.get("segment_index", ""))
        if not isinstance(upload, web.FileField) or not segment.isdigit():
            return _invalid("media", "`media` and `segment_index` are required.")
        if int(segment) != media.segments:
            return _invalid("segment_index", f"Expected segment {media.segments}.")
        media.data += upload.file.read()
        media.segments += 1
        return web.json_response({"data": {"expires_at": int(time.time()) + 86400}})

    async def _finalize(self, request: web.Request) -> web.Response:
        media = self.media.get(request.match_info["id"])
        if media is None:
            return _problem(400, "Invalid Request", "Unknown media id.")
        if len(media.data) != media.total_bytes:
            return _invalid(
                "total_bytes", f"Got {len(media.data)} bytes, expected {media.total_bytes}."
            )
        media.finalized = True
        return web.json_response({"data": _media_data(media)})

    async def _metadata(self, request: web.Request) -> web.Response:
        body = await request.json()
        media = self.media.get(str(body.get("id")))
        if media is None:
            return _problem(400, "Invalid Request", "Unknown media id.")
        alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        if not isinstance(alt, str) or len(alt) > 1000:
            return _invalid("metadata.alt_text.text", "Alt text must be 1 to 1000 characters.")
        media.alt_text = alt
        return web.json_response(
            {"data": {"id": media.id, "associated_metadata": {"alt_text": {"text": alt}}}}
        )

    async def _image(self, request: web.Request) -> web.Response:
        found = self.images.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=found[0], content_type=found[1])

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.base_url = self._served.start(self._app)

    def stop(self) -> None:
        self._served.stop()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=32 * 2**20)
        app.router.add_post("/2/tweets", self._create_tweet)
        app.router.add_post("/2/media/upload", self._simple_upload)
        app.router.add_post("/2/media/upload/initialize", self._initialize)
        app.router.add_post("/2/media/upload/{id}/append", self._append)
        app.router.add_post("/2/media/upload/{id}/finalize", self._finalize)
        app.router.add_post("/2/media/metadata", self._metadata)
        app.router.add_get("/2/users/me", self._users_me)
        app.router.add_get("/images/{name}", self._image)
        return app


def _invalid(parameter: str, message: str) -> web.Response:
    """X's 400 shape for a request whose parameters are invalid."""
    body = {
        "errors": [{"parameters": {parameter: []}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    return web.json_response(body, status=400)


def _media_data(media: Media) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": media.id,
        "media_key": f"3_{media.id}",
        "size": len(media.data),
        "expires_after_secs": 86400,
    }
    if media.media_type.startswith("image/"):
        data["image"] = {"image_type": media.media_type, "w": 1200, "h": 675}
    return data


@pytest.fixture(name="x_api")
def x_api_fixture() -> Iterator[FakeXApi]:
    """A fresh fake X API per test; ``.base_url`` is its loopback address."""
    server = FakeXApi()
    server.start()
    try:
        yield server
    finally:
        server.stop()
