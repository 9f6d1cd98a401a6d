"""A local Mastodon API-compatible server for tests (aiohttp on loopback, in its own thread).

It is as strict as a Mastodon 4 instance about what a bot does:

- ``Authorization: Bearer <token>`` on every private endpoint (401 in Mastodon's words);
- ``GET /api/v2/instance``: the instance's limits (``max_characters`` settable);
- ``POST /api/v1/statuses``: the content warning and the text counted together in
  graphemes, every http(s) URL as 23 and ``@user@domain`` as ``@user`` → 422 "Validation
  failed: Text character limit of N exceeded"; visibility and language checked;
  ``media_ids[]`` must be this account's unattached uploads; an ``Idempotency-Key`` seen in
  the last hour answers with the status it made, without posting again;
- ``POST /api/v2/media`` (multipart ``file`` and ``description``, 1500 characters at most),
  ``GET /api/v1/media/:id``;
- ``GET`` and ``PUT /api/v1/statuses/:id`` (an edit that does not list the media again
  drops it, as Mastodon does);
- ``GET /api/v1/accounts/verify_credentials``;
- ``GET /images/{name}``: images registered with ``add_image`` (the articles' pictures).

Faults, per path prefix: ``fail(status)``, ``rate_limit(reset_after)`` (429 with an ISO 8601
``X-RateLimit-Reset``), ``hold_after_posting()`` (the status is made, then the answer is held
past the client's timeout: the lost answer a retry must not turn into a second post).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import regex
from aiohttp import web
from twitter_text import extract_urls_with_indices

from tests.fakes.served_app import ServedApp

TOKEN = "mastodon-test-token-Zq84KsW1pXn0bE7yV3"
ACCOUNT = "newsroom"
DESCRIPTION_LIMIT = 1500
IDEMPOTENCY_TTL = 3600.0
VISIBILITIES = ("public", "unlisted", "private", "direct")
_MENTION = regex.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@[\w.-]+\w)?",
                         regex.IGNORECASE)
_LANGUAGE = re.compile(r"[a-z]{2,3}")


def mastodon_length(text: str, spoiler: str) -> int:
    """StatusLengthValidator: spoiler + text, graphemes, URLs 23, mentions without domain."""
    if text.strip():
        spans = [(u["indices"][0], u["indices"][1], "x" * 23)
                 for u in extract_urls_with_indices(text, extract_urls_without_protocol=False)]
        spans += [(m.start(), m.end(), "@" + m[1]) for m in _MENTION.finditer(text)]
        out, at = [], 0
        for start, end, put in sorted(spans):
            if start >= at:
                out += [text[at:start], put]
                at = end
        text = "".join(out) + text[at:]
    else:
        text = ""
    return len(regex.findall(r"\X", spoiler + text))


@dataclass
class Media:
    id: str
    data: bytes
    content_type: str
    description: str | None
    status_id: str | None = None


@dataclass
class Status:
    id: str
    text: str
    visibility: str
    spoiler_text: str
    language: str | None
    media_ids: list[str]
    idempotency_key: str | None
    created_at: str
    edits: list[str] = field(default_factory=list)  # earlier texts, oldest first
    edited_at: str | None = None


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""
    hold_after: bool = False  # do the work, then hold the answer


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    authorization: str
    idempotency_key: str
    status: int = 0


def _now_iso(offset: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


class FakeMastodonApi:
    """The server's state and switches. Use through the ``mastodon_api`` fixture."""

    def __init__(self) -> None:
        self.base_url = ""
        self.max_characters = 500
        self.statuses: list[Status] = []
        self.media: dict[str, Media] = {}
        self.seen: list[Seen] = []
        self.images: dict[str, tuple[bytes, str]] = {}
        self.hold_seconds = 5.0
        self.idempotency_ttl = IDEMPOTENCY_TTL
        self.instance_requests = 0
        self._keys: dict[str, tuple[str, float]] = {}  # idempotency key → (status id, when)
        self._faults: list[tuple[str, str, Fault]] = []
        self._next_id = 110_000_000_000_000_000
        self._lock = threading.Lock()
        self._served = ServedApp("fake-mastodon-api")

    # ------------------------------------------------------------ switches

    def fail(self, status: int, *, path: str = "/api/v1/statuses", method: str = "",
             times: int = 1, error: str = "", headers: dict[str, str] | None = None) -> None:
        """The next ``times`` requests to a path starting with ``path`` get ``status``."""
        with self._lock:
            for _ in range(times):
                self._faults.append((method, path, Fault(status, dict(headers or {}), error)))

    def rate_limit(self, reset_after: float, *, path: str = "/api/v1/statuses") -> str:
        """Answer the next request with 429 and Mastodon's headers; returns the reset time."""
        reset = _now_iso(reset_after)
        self.fail(429, path=path, method="POST", error="Too many requests", headers={
            "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset})
        return reset

    def hold_after_posting(self, *, times: int = 1, path: str = "/api/v1/statuses") -> None:
        """Make the next ``times`` statuses, then hold each answer ``hold_seconds``."""
        with self._lock:
            for _ in range(times):
                self._faults.append(("POST", path, Fault(200, hold_after=True)))

    def add_image(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Serve ``data`` at ``/images/<name>``; returns its URL."""
        self.images[name] = (data, content_type)
        return f"{self.base_url}/images/{name}"

    def channel_settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings for a Mastodon channel in config.yaml that posts here."""
        settings: dict[str, Any] = {"type": "mastodon", "access_token": TOKEN,
                                    "api_url": self.base_url, "timeout": 2}
        settings.update(overrides)
        return settings

    def requests_to(self, path: str, method: str = "POST") -> list[Seen]:
        return [s for s in self.seen if s.path == path and s.method == method]

    # ------------------------------------------------------------ plumbing

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for i, (verb, prefix, fault) in enumerate(self._faults):
                if path.startswith(prefix) and verb in ("", method):
                    del self._faults[i]
                    return fault
        return None

    def _new_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return str(self._next_id)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        seen = Seen(request.method, request.path, request.headers.get("Authorization", ""),
                    request.headers.get("Idempotency-Key", ""))
        self.seen.append(seen)
        if request.path.startswith("/api/"):
            fault = self._take_fault(request.method, request.path)
            if fault is not None and not fault.hold_after:
                seen.status = fault.status
                return _error(fault.status, fault.error or f"forced {fault.status}",
                              fault.headers)
            public = request.path.startswith("/api/v2/instance")
            if not public and request.headers.get("Authorization") != f"Bearer {TOKEN}":
                seen.status = 401
                return _error(401, "The access token is invalid")
            response: web.StreamResponse = await handler(request)
            if fault is not None:  # the work is done; the answer is lost on the way
                assert self._served.release is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._served.release.wait(), self.hold_seconds)
            seen.status = response.status
            return response
        response = await handler(request)
        seen.status = response.status
        return response

    def _status_json(self, status: Status) -> dict[str, Any]:
        return {
            "id": status.id, "uri": f"{self.base_url}/users/{ACCOUNT}/statuses/{status.id}",
            "url": f"{self.base_url}/@{ACCOUNT}/{status.id}", "created_at": status.created_at,
            "edited_at": status.edited_at, "content": f"<p>{status.text}</p>",
            "visibility": status.visibility, "language": status.language,
            "spoiler_text": status.spoiler_text, "sensitive": bool(status.spoiler_text),
            "media_attachments": [self._media_json(self.media[m]) for m in status.media_ids],
            "account": self._account_json(), "mentions": [], "tags": [], "emojis": [],
            "reblogs_count": 0, "favourites_count": 0, "replies_count": 0,
        }

    def _media_json(self, media: Media) -> dict[str, Any]:
        return {"id": media.id, "type": "image", "description": media.description,
                "url": f"{self.base_url}/system/media/{media.id}.png",
                "preview_url": f"{self.base_url}/system/media/{media.id}_small.png",
                "blurhash": None, "meta": {}}

    def _account_json(self) -> dict[str, Any]:
        return {"id": "1", "username": ACCOUNT, "acct": ACCOUNT, "display_name": "Newsroom",
                "url": f"{self.base_url}/@{ACCOUNT}", "bot": True}

    def _validate(self, text: str, spoiler: str) -> web.Response | None:
        if not text.strip():
            return _error(422, "Validation failed: Text can't be blank")
        if mastodon_length(text, spoiler) > self.max_characters:
            return _error(422, "Validation failed: Text character limit of "
                          f"{self.max_characters} exceeded")
        return None

    def _media_problem(self, media_ids: list[str], status_id: str | None) -> str:
        if len(media_ids) > 4:
            return "Validation failed: You cannot attach more than 4 files"
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None or media.status_id not in (None, status_id):
                return f"Validation failed: Media attachment {media_id} was not found"
        return ""

    # ------------------------------------------------------------ endpoints

    async def _instance(self, request: web.Request) -> web.Response:
        self.instance_requests += 1
        return web.json_response({
            "domain": "mastodon.test", "title": "Test instance", "version": "4.3.0",
            "api_versions": {"mastodon": 2},
            "configuration": {
                "statuses": {"max_characters": self.max_characters,
                             "max_media_attachments": 4, "characters_reserved_per_url": 23},
                "media_attachments": {
                    "supported_mime_types": ["image/jpeg", "image/png", "image/gif",
                                             "image/webp", "video/mp4"],
                    "image_size_limit": 16_777_216, "description_limit": DESCRIPTION_LIMIT},
            },
        })

    async def _verify(self, request: web.Request) -> web.Response:
        return web.json_response(self._account_json())

    async def _post_status(self, request: web.Request) -> web.Response:
        form = await request.post()
        key = request.headers.get("Idempotency-Key", "")
        with self._lock:
            known = self._keys.get(key) if key else None
        if known and time.monotonic() - known[1] < self.idempotency_ttl:
            return web.json_response(self._status_json(self._by_id(known[0])))
        text = str(form.get("status", ""))
        spoiler = str(form.get("spoiler_text", ""))
        visibility = str(form.get("visibility", "public"))
        language = form.get("language")
        media_ids = [str(m) for m in form.getall("media_ids[]", [])]
        invalid = self._validate(text, spoiler)
        if invalid is not None:
            return invalid
        if visibility not in VISIBILITIES:
            return _error(422, "Validation failed: Visibility is not included in the list")
        if language is not None and not _LANGUAGE.fullmatch(str(language)):
            return _error(422, "Validation failed: Language is not a valid language")
        problem = self._media_problem(media_ids, None)
        if problem:
            return _error(422, problem)
        status = Status(self._new_id(), text, visibility, spoiler,
                        str(language) if language else None, media_ids, key or None,
                        _now_iso())
        for media_id in media_ids:
            self.media[media_id].status_id = status.id
        self.statuses.append(status)
        if key:
            with self._lock:
                self._keys[key] = (status.id, time.monotonic())
        remaining = max(0, 300 - len(self.statuses))
        return web.json_response(self._status_json(status), headers={
            "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": _now_iso(3 * 3600)})

    def _by_id(self, status_id: str) -> Status:
        return next(s for s in self.statuses if s.id == status_id)

    async def _get_status(self, request: web.Request) -> web.Response:
        found = [s for s in self.statuses if s.id == request.match_info["id"]]
        if not found:
            return _error(404, "Record not found")
        return web.json_response(self._status_json(found[0]))

    async def _edit_status(self, request: web.Request) -> web.Response:
        found = [s for s in self.statuses if s.id == request.match_info["id"]]
        if not found:
            return _error(404, "Record not found")
        status = found[0]
        form = await request.post()
        text = str(form.get("status", ""))
        spoiler = str(form.get("spoiler_text", ""))
        media_ids = [str(m) for m in form.getall("media_ids[]", [])]
        invalid = self._validate(text, spoiler)
        if invalid is not None:
            return invalid
        problem = self._media_problem(media_ids, status.id)
        if problem:
            return _error(422, problem)
        status.edits.append(status.text)
        status.text, status.spoiler_text = text, spoiler
        status.media_ids = media_ids  # not listed again: dropped, as Mastodon does
        status.edited_at = _now_iso()
        return web.json_response(self._status_json(status))

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _error(422, "Validation failed: File can't be blank")
        description = form.get("description")
        if description is not None and len(str(description)) > DESCRIPTION_LIMIT:
            return _error(422, "Validation failed: Description is too long (maximum is "
                          f"{DESCRIPTION_LIMIT} characters)")
        if not upload.content_type.startswith("image/"):
            return _error(422, "Validation failed: File content type is invalid")
        media = Media(self._new_id(), upload.file.read(), upload.content_type,
                      str(description) if description is not None else None)
        self.media[media.id] = media
        return web.json_response(self._media_json(media))

    async def _get_media(self, request: web.Request) -> web.Response:
        media = self.media.get(request.match_info["id"])
        if media is None:
            return _error(404, "Record not found")
        return web.json_response(self._media_json(media))

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
        app.router.add_get("/api/v2/instance", self._instance)
        app.router.add_get("/api/v2/instance/", self._instance)
        app.router.add_get("/api/v1/accounts/verify_credentials", self._verify)
        app.router.add_post("/api/v1/statuses", self._post_status)
        app.router.add_get("/api/v1/statuses/{id}", self._get_status)
        app.router.add_put("/api/v1/statuses/{id}", self._edit_status)
        app.router.add_post("/api/v2/media", self._upload)
        app.router.add_get("/api/v1/media/{id}", self._get_media)
        app.router.add_get("/images/{name}", self._image)
        return app


@pytest.fixture
def mastodon_api() -> Iterator[FakeMastodonApi]:
    """A fresh fake Mastodon instance per test; ``.base_url`` is its loopback address."""
    server = FakeMastodonApi()
    server.start()
    try:
        yield server
    finally:
        server.stop()
