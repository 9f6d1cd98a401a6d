"""A local Bluesky PDS-compatible XRPC server for tests (aiohttp on loopback, in a thread).

It answers at ``{base_url}/xrpc/{nsid}`` what a PDS answers a bot, and is as strict as the
lexicons (stricter about facets, which the real PDS passes on unchecked and the apps then
ignore):

- ``com.atproto.server.createSession``: the handle (or DID) and app password below; access
  and refresh tokens are JWTs whose ``exp`` the server enforces (``access_ttl``), and
  ``expire_access_tokens()`` / ``expire_refresh_tokens()`` expire them early.
- ``com.atproto.server.refreshSession``: takes the refresh token once (rotation), gives new
  tokens; an expired or used one is ``400 ExpiredToken`` / ``InvalidToken``.
- ``com.atproto.repo.uploadBlob``: the body's type must be a concrete image type matching its
  bytes (JPEG, PNG, GIF, WebP); ``max_upload_bytes`` is the upload limit.
- ``com.atproto.repo.createRecord`` (``app.bsky.feed.post``): text at most 300 graphemes and
  3000 bytes; facets whose byte ranges lie within the text, on UTF-8 character boundaries,
  with link (absolute URI) or tag (no "#", at most 64 graphemes) features; ``langs`` at most
  3 language tags; an ``app.bsky.embed.external`` card whose thumb is an uploaded image blob
  of at most 1,000,000 bytes. Refusals are ``400 InvalidRequest`` with the PDS's wording.
- ``app.bsky.actor.getProfile``: the account's profile (``check --online``).
- ``GET /images/{name}``: images registered with ``add_image`` (the articles' pictures).

Faults are queued per NSID: ``fail``, ``rate_limit`` (429 with ``ratelimit-*`` headers),
``hang``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import regex
from aiohttp import web

from tests.fakes.served_app import ServedApp

HANDLE = "newsroom-test.bsky.social"
DID = "did:plc:n3wsr00mt3stacc0unt4b2c"
APP_PASSWORD = "k7pq-x2mw-9fzr-h4tb"
DISPLAY_NAME = "Newsroom (test)"

#: The credentials as the environment variables a config.yaml references.
ENV = {"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": APP_PASSWORD}

MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3000
MAX_THUMB_BYTES = 1_000_000
_GRAPHEME = regex.compile(r"\X")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_URI = re.compile(r"^[a-z][a-z0-9+.-]*:\S+$")
_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
               (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


@dataclass
class Post:
    uri: str
    cid: str
    record: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.record["text"])

    @property
    def facets(self) -> list[dict[str, Any]]:
        return list(self.record.get("facets") or [])

    @property
    def card(self) -> dict[str, Any] | None:
        embed = self.record.get("embed") or {}
        return embed.get("external") if embed.get("$type") == "app.bsky.embed.external" \
            else None

    def faceted(self) -> list[tuple[str, str]]:
        """Each facet as (the characters it spans, its link or tag): what a reader sees."""
        data = self.text.encode("utf-8")
        spans = []
        for facet in self.facets:
            index, feature = facet["index"], facet["features"][0]
            value = feature.get("uri") or feature.get("tag")
            spans.append((data[index["byteStart"]:index["byteEnd"]].decode("utf-8"), value))
        return spans


@dataclass
class Blob:
    cid: str
    mime_type: str
    data: bytes


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    hang: bool = False


@dataclass
class Seen:
    """One request as the server received it (for assertions about what was sent)."""

    method: str
    nsid: str
    authorization: str
    status: int = 0
    body: bytes = b""


def _error(status: int, error: str, message: str,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status,
                             headers=headers)


def _invalid(message: str) -> web.Response:
    return _error(400, "InvalidRequest", message)


def _cid(data: bytes, codec: int) -> str:
    """A real CIDv1 (sha-256) for ``data``: codec 0x55 raw (blobs), 0x71 dag-cbor (records)."""
    digest = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(digest).decode().lower().rstrip("=")


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _tid() -> str:
    """A record key shaped like a TID (13 base32-sortable characters)."""
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (time.time_ns() // 1000) << 10 | secrets.randbelow(1024)
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))


class FakeBlueskyPds:
    """The server's state and switches. Use through the ``bluesky_api`` fixture."""

    def __init__(self) -> None:
        self.base_url = ""
        self.posts: list[Post] = []
        self.blobs: dict[str, Blob] = {}
        self.seen: list[Seen] = []
        self.images: dict[str, tuple[bytes, str]] = {}
        self.access_ttl = 7200.0  # seconds, as the real PDS gives an app password session
        self.max_upload_bytes = 5_000_000
        self.hang_seconds = 10.0
        self._access: dict[str, float] = {}  # token -> expires at (epoch seconds)
        self._refresh: dict[str, float] = {}
        self._faults: list[tuple[str, Fault]] = []
        self._lock = threading.Lock()
        self._served = ServedApp("fake-bluesky-pds")

    # ------------------------------------------------------------ switches

    def fail(self, status: int, *, nsid: str = "com.atproto.repo.createRecord", times: int = 1,
             error: str = "InternalServerError", message: str = "Internal Server Error",
             headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` calls of ``nsid`` with ``status``."""
        with self._lock:
            for _ in range(times):
                self._faults.append((nsid, Fault(status, dict(headers or {}),
                                                 {"error": error, "message": message})))

    def rate_limit(self, reset_after: float, *, nsid: str = "com.atproto.repo.createRecord"
                   ) -> dict[str, str]:
        """Answer the next call of ``nsid`` with 429 and the PDS's ``ratelimit-*`` headers."""
        headers = {"ratelimit-limit": "5000", "ratelimit-remaining": "0",
                   "ratelimit-reset": str(int(time.time() + reset_after)),
                   "ratelimit-policy": "5000;w=3600"}
        self.fail(429, nsid=nsid, error="RateLimitExceeded", message="Rate Limit Exceeded",
                  headers=headers)
        return headers

    def hang(self, *, nsid: str = "com.atproto.repo.createRecord", times: int = 1) -> None:
        """Take the next ``times`` calls of ``nsid`` (a post is created) and never answer."""
        with self._lock:
            for _ in range(times):
                self._faults.append((nsid, Fault(0, hang=True)))

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far is expired from now (whatever its ``exp``)."""
        with self._lock:
            self._access = dict.fromkeys(self._access, 0.0)

    def expire_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh = dict.fromkeys(self._refresh, 0.0)

    def add_image(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Serve ``data`` at ``/images/<name>``; returns its URL."""
        self.images[name] = (data, content_type)
        return f"{self.base_url}/images/{name}"

    def channel_settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings for a Bluesky channel in config.yaml that posts here (secret included)."""
        settings: dict[str, Any] = {"type": "bluesky", "handle": HANDLE,
                                    "app_password": APP_PASSWORD, "api_url": self.base_url,
                                    "timeout": 2}
        settings.update(overrides)
        return settings

    def calls(self, nsid: str) -> list[Seen]:
        return [s for s in self.seen if s.nsid == nsid]

    def count(self, nsid: str, status: int | None = None) -> int:
        return sum(1 for s in self.calls(nsid) if status is None or s.status == status)

    # ------------------------------------------------------------ plumbing

    def _take_fault(self, nsid: str) -> Fault | None:
        with self._lock:
            for i, (wanted, fault) in enumerate(self._faults):
                if wanted == nsid:
                    del self._faults[i]
                    return fault
        return None

    def _issue(self) -> dict[str, str]:
        now = time.time()
        access = ".".join((_b64({"typ": "at+jwt", "alg": "HS256"}), _b64(
            {"scope": "com.atproto.appPass", "sub": DID, "aud": "did:web:pds.test",
             "iat": int(now), "exp": int(now + self.access_ttl)}), secrets.token_urlsafe(32)))
        refresh = ".".join((_b64({"typ": "refresh+jwt", "alg": "HS256"}), _b64(
            {"scope": "com.atproto.refresh", "sub": DID, "jti": secrets.token_urlsafe(16),
             "iat": int(now), "exp": int(now + 90 * 86400)}), secrets.token_urlsafe(32)))
        with self._lock:
            self._access[access] = now + self.access_ttl
            self._refresh[refresh] = now + 90 * 86400
        return {"accessJwt": access, "refreshJwt": refresh, "handle": HANDLE, "did": DID,
                "active": True}

    def _bearer(self, request: web.Request, tokens: dict[str, float]) -> web.Response | str:
        """The presented token when ``tokens`` holds it unexpired, else the PDS's refusal."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _error(401, "AuthMissing", "Authentication Required")
        token = header[len("Bearer "):]
        with self._lock:
            expires = tokens.get(token)
        if expires is None:
            return _error(400, "InvalidToken", "Token could not be verified")
        if expires <= time.time():
            return _error(400, "ExpiredToken", "Token has expired")
        return token

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        nsid = request.path.removeprefix("/xrpc/")
        seen = Seen(request.method, nsid, request.headers.get("Authorization", ""))
        self.seen.append(seen)
        if request.path.startswith("/xrpc/"):
            seen.body = await request.read()
            fault = self._take_fault(nsid)
            if fault is not None and fault.hang:
                if nsid == "com.atproto.repo.createRecord":  # the post goes out, unanswered
                    await handler(request)
                assert self._served.release is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._served.release.wait(), self.hang_seconds)
                return _error(503, "Unavailable", "hung")
            if fault is not None:
                seen.status = fault.status
                return web.json_response(fault.body, status=fault.status, headers=fault.headers)
            if nsid not in ("com.atproto.server.createSession",
                            "com.atproto.server.refreshSession"):
                token = self._bearer(request, self._access)
                if isinstance(token, web.Response):
                    seen.status = token.status
                    return token
        response: web.StreamResponse = await handler(request)
        seen.status = response.status
        return response

    # ------------------------------------------------------------ endpoints

    async def _create_session(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("identifier"), str) or \
                not isinstance(body.get("password"), str):
            return _invalid("Input must have the properties \"identifier\" and \"password\"")
        if body["identifier"].lstrip("@") not in (HANDLE, DID) or \
                body["password"] != APP_PASSWORD:
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        return web.json_response(self._issue())

    async def _refresh_session(self, request: web.Request) -> web.Response:
        token = self._bearer(request, self._refresh)
        if isinstance(token, web.Response):
            return token
        with self._lock:
            self._refresh.pop(token, None)  # a refresh token is good for one refresh
        return web.json_response(self._issue())

    async def _upload_blob(self, request: web.Request) -> web.Response:
        data = await request.read()
        declared = request.headers.get("Content-Type", "")
        if len(data) > self.max_upload_bytes:
            return _error(400, "BlobTooLarge",
                          f"This file is too large. It is {len(data)} bytes but the maximum "
                          f"size is {self.max_upload_bytes} bytes.")
        sniffed = next((t for sig, t in _SIGNATURES if data.startswith(sig)),
                       "image/webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else "")
        if not declared or "*" in declared or declared != sniffed:
            return _invalid(f"Blob's content type {declared or 'none'!r} does not match its "
                            f"bytes ({sniffed or 'not an image'})")
        blob = Blob(_cid(data, 0x55), declared, data)
        self.blobs[blob.cid] = blob
        return web.json_response({"blob": {"$type": "blob", "ref": {"$link": blob.cid},
                                           "mimeType": blob.mime_type, "size": len(data)}})

    async def _create_record(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _invalid("Request body is not valid JSON")
        if not isinstance(body, dict) or body.get("repo") not in (DID, HANDLE):
            return _invalid("Could not find repo")
        if body.get("collection") != "app.bsky.feed.post":
            return _invalid(f"Unsupported collection {body.get('collection')!r}")
        record = body.get("record")
        problem = self._post_problem(record)
        if problem:
            return _invalid(f"Invalid app.bsky.feed.post record: {problem}")
        assert isinstance(record, dict)
        rkey = _tid()
        post = Post(f"at://{DID}/app.bsky.feed.post/{rkey}",
                    _cid(json.dumps(record, sort_keys=True).encode(), 0x71), record)
        self.posts.append(post)
        return web.json_response({"uri": post.uri, "cid": post.cid, "commit": {
            "cid": _cid(post.cid.encode(), 0x71), "rev": _tid()}, "validationStatus": "valid"})

    def _post_problem(self, record: Any) -> str:
        if not isinstance(record, dict) or record.get("$type") != "app.bsky.feed.post":
            return "Record/$type must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str):
            return "Record must have the property \"text\""
        if len(_GRAPHEME.findall(text)) > MAX_GRAPHEMES:
            return f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes"
        data = text.encode("utf-8")
        if len(data) > MAX_TEXT_BYTES:
            return f"Record/text must not be longer than {MAX_TEXT_BYTES} characters"
        try:
            datetime.fromisoformat(str(record.get("createdAt")))
        except ValueError:
            return "Record/createdAt must be an valid atproto datetime"
        for i, facet in enumerate(record.get("facets") or []):
            problem = _facet_problem(facet, data)
            if problem:
                return f"Record/facets/{i}: {problem}"
        langs = record.get("langs")
        if langs is not None and (not isinstance(langs, list) or len(langs) > 3 or
                                  not all(isinstance(x, str) and _LANGUAGE.match(x)
                                          for x in langs)):
            return "Record/langs must be at most 3 language tags"
        embed = record.get("embed")
        if embed is not None:
            return self._embed_problem(embed)
        return ""

    def _embed_problem(self, embed: Any) -> str:
        if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.external":
            return "Record/embed: only app.bsky.embed.external is served by this fake"
        external = embed.get("external")
        if not isinstance(external, dict):
            return "Record/embed/external must be an object"
        for key in ("uri", "title", "description"):
            if not isinstance(external.get(key), str):
                return f"Record/embed/external must have the property \"{key}\""
        if not _URI.match(external["uri"]):
            return "Record/embed/external/uri must be a uri"
        thumb = external.get("thumb")
        if thumb is None:
            return ""
        ref = (thumb.get("ref") or {}).get("$link") if isinstance(thumb, dict) else None
        blob = self.blobs.get(str(ref))
        if not isinstance(thumb, dict) or thumb.get("$type") != "blob" or blob is None:
            return "Record/embed/external/thumb: could not find blob"
        if thumb.get("mimeType") != blob.mime_type or thumb.get("size") != len(blob.data):
            return "Record/embed/external/thumb does not match the uploaded blob"
        if not blob.mime_type.startswith("image/"):
            return f"Record/embed/external/thumb mime type not accepted: {blob.mime_type}"
        if len(blob.data) > MAX_THUMB_BYTES:
            return (f"Record/embed/external/thumb file too large: {len(blob.data)} bytes, "
                    f"{MAX_THUMB_BYTES} maximum")
        return ""

    async def _get_profile(self, request: web.Request) -> web.Response:
        if request.query.get("actor") not in (DID, HANDLE):
            return _invalid("Profile not found")
        return web.json_response({"did": DID, "handle": HANDLE, "displayName": DISPLAY_NAME,
                                  "followersCount": 1204, "followsCount": 3,
                                  "postsCount": len(self.posts)})

    async def _image(self, request: web.Request) -> web.Response:
        found = self.images.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=found[0], content_type=found[1])

    # ------------------------------------------------------------ lifecycle

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        for nsid, handler in (
                ("com.atproto.server.createSession", self._create_session),
                ("com.atproto.server.refreshSession", self._refresh_session),
                ("com.atproto.repo.uploadBlob", self._upload_blob),
                ("com.atproto.repo.createRecord", self._create_record)):
            app.router.add_post(f"/xrpc/{nsid}", handler)
        app.router.add_get("/xrpc/app.bsky.actor.getProfile", self._get_profile)
        app.router.add_get("/images/{name}", self._image)
        return app

    def start(self) -> None:
        self.base_url = self._served.start(self._app)

    def stop(self) -> None:
        self._served.stop()


def _facet_problem(facet: Any, text: bytes) -> str:
    index = facet.get("index") if isinstance(facet, dict) else None
    features = facet.get("features") if isinstance(facet, dict) else None
    if not isinstance(index, dict) or not isinstance(features, list) or not features:
        return "must have index and features"
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        return "index must be byteStart < byteEnd, both integers from 0"
    if end > len(text):
        return f"index ends at byte {end}, past the text's {len(text)} bytes"
    for at in (start, end):
        if at < len(text) and 0x80 <= text[at] < 0xC0:
            return f"byte {at} is inside a UTF-8 character"
    for feature in features:
        kind = feature.get("$type") if isinstance(feature, dict) else None
        if kind == "app.bsky.richtext.facet#link":
            if not _URI.match(str(feature.get("uri", ""))):
                return "link feature must have a uri"
        elif kind == "app.bsky.richtext.facet#tag":
            tag = feature.get("tag")
            if not isinstance(tag, str) or not tag or tag.startswith(("#", "＃")) or \
                    len(_GRAPHEME.findall(tag)) > 64 or len(tag.encode()) > 640:
                return "tag feature must be a tag of 1 to 64 graphemes, without '#'"
        elif kind != "app.bsky.richtext.facet#mention":
            return f"unknown feature {kind!r}"
    return ""


@pytest.fixture(name="bluesky_api")
def bluesky_api_fixture() -> Iterator[FakeBlueskyPds]:
    """A fresh fake PDS per test; ``.base_url`` is its loopback address."""
    server = FakeBlueskyPds()
    server.start()
    try:
        yield server
    finally:
        server.stop()
