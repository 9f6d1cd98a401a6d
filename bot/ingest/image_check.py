"""Is the lead image a real picture? One bounded request per image, before any channel uses it.

Telegram fetches a photo by URL itself and X needs the file uploaded; a URL that answers 404,
an HTML page, a 1×1 GIF or a 40 MB original gives a failed photo, a broken digest image or a
wasted upload. So each article's image is asked about once, at ingest: a ranged GET of its
first 64 KiB (HEAD is not enough: many CDNs answer it differently, and the first bytes hold
the size). It must answer 200 (or 206) with an ``image/*`` type other than SVG, be within the
platforms' 5 MB, and be at least 200×100 px where the header bytes say. The verdict is stored
on the article; a failed one means a text post, with the reason in ``newsbot history``.

The URL is feed content, so the request goes through ``bot.urlpolicy.untrusted_client``: no
internal addresses, on the first hop or any redirect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from types import TracebackType

import httpx

from bot.errors import UrlRefused
from bot.ingest.image_rules import image_refusal
from bot.ingest.image_size import image_size
from bot.linkcheck import link_problem
from bot.models import FeedItem
from bot.urlpolicy import UrlPolicy, untrusted_client

log = logging.getLogger("newsbot.ingest")
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # Telegram (a photo sent by URL) and X both stop at 5 MB
MIN_WIDTH, MIN_HEIGHT = 200, 100
HEAD_BYTES = 64 * 1024
_REFUSED_TYPES = ("image/svg+xml",)  # neither Telegram nor X takes SVG


@dataclass(frozen=True)
class ImageVerdict:
    """What the check found; ``problem`` is "" when the image may be used."""

    url: str
    problem: str = ""
    content_type: str = ""
    size: int | None = None  # bytes, when the server said
    width: int | None = None
    height: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class _Probe:
    status: int
    content_type: str
    size: int | None
    head: bytes


class ImageChecker:
    """Checks image URLs under the outbound-URL policy; use as an async context manager."""

    def __init__(self, policy: UrlPolicy, *, timeout: float = 10.0, user_agent: str = "newsbot",
                 max_bytes: int = MAX_IMAGE_BYTES) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> ImageChecker:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check(self, url: str) -> ImageVerdict:
        """The verdict on ``url``. Never raises: every failure is a verdict with a problem."""
        refused = link_problem(url) or image_refusal(url, declared=True)
        if refused:
            return ImageVerdict(url, f"lead image not used: {refused}")
        try:
            async with asyncio.timeout(self.timeout):
                probe = await self._probe(url)
        except UrlRefused as exc:
            return ImageVerdict(url, f"lead image not used: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return ImageVerdict(url, f"lead image not used: no answer within {self.timeout:g}s")
        except httpx.HTTPError as exc:
            return ImageVerdict(url, f"lead image not used: it could not be fetched "
                                     f"({type(exc).__name__})")
        return self._judge(url, probe)

    def _judge(self, url: str, probe: _Probe) -> ImageVerdict:
        found = ImageVerdict(url, "", probe.content_type, probe.size)
        if probe.status not in (200, 206):
            return _with(found, f"the image URL answered HTTP {probe.status}")
        media_type = probe.content_type.split(";")[0].strip().lower()
        if not media_type.startswith("image/"):
            return _with(found, f"the image URL serves {media_type or 'no type'}, not an image")
        if media_type in _REFUSED_TYPES:
            return _with(found, f"{media_type} images cannot be posted")
        if probe.size is not None and probe.size > self.max_bytes:
            return _with(found, f"the image is {probe.size:,} bytes, over the "
                                f"{self.max_bytes:,} byte limit of Telegram and X")
        size = image_size(probe.head)
        if size is None:
            return found  # a format whose size we do not read: the platforms will judge
        width, height = size
        found = ImageVerdict(url, "", probe.content_type, probe.size, width, height)
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            return _with(found, f"the image is {width}×{height} px, smaller than "
                                f"{MIN_WIDTH}×{MIN_HEIGHT}")
        return found

    async def _probe(self, url: str) -> _Probe:
        """The one request: a ranged GET through the URL policy, at most HEAD_BYTES read."""
        if self._client is None:
            self._client = untrusted_client(
                self.policy, timeout=self.timeout, follow_redirects=True, max_redirects=3,
                headers={"User-Agent": self._user_agent, "Accept": "image/*"})
        headers = {"Range": f"bytes=0-{HEAD_BYTES - 1}"}
        async with self._client.stream("GET", url, headers=headers) as response:
            head = b""
            if response.status_code in (200, 206):
                async for chunk in response.aiter_bytes():
                    head += chunk
                    if len(head) >= HEAD_BYTES:
                        break
            return _Probe(response.status_code, response.headers.get("content-type", ""),
                          _total_size(response), head[:HEAD_BYTES])


def _total_size(response: httpx.Response) -> int | None:
    if response.status_code == 206:
        total = response.headers.get("content-range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


def _with(found: ImageVerdict, why: str) -> ImageVerdict:
    return ImageVerdict(found.url, f"lead image not used: {why}", found.content_type, found.size,
                        found.width, found.height)


async def check_item_images(items: list[FeedItem], checker: ImageChecker, *,
                            concurrency: int = 8) -> list[FeedItem]:
    """``items`` with each lead image's verdict on it (``image_problem``), one request per
    distinct image URL however many items share it."""
    urls = list(dict.fromkeys(i.image_url for i in items if i.image_url and not i.image_problem))
    if not urls:
        return items
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str) -> ImageVerdict:
        async with gate:
            return await checker.check(url)

    verdicts = {v.url: v for v in await asyncio.gather(*(one(u) for u in urls))}
    checked: list[FeedItem] = []
    for item in items:
        verdict = verdicts.get(item.image_url or "")
        if verdict is not None and verdict.problem:
            log.info("source %s: %s: %s", item.source_id, item.url, verdict.problem)
            item = dataclasses.replace(item, image_problem=verdict.problem)
        checked.append(item)
    return checked
