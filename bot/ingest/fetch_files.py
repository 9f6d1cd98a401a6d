"""Reading files as if they were fetched: a source's local feed file, and the bundled sample
article pages that stand in for ``news.example.org`` in offline mode (``fetch.offline_pages``).

Same size cap and the same kind of SourceError as a fetch over the network
(``bot.ingest.fetch``, whose ``Fetcher`` hands local paths and offline URLs here).
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.errors import SourceError
from bot.ingest.fetch_errors import too_large
from bot.ingest.fetched import FetchResult
from bot.ingest.urls import strip_userinfo

#: Host whose pages are served from ``offline_pages`` (the bundled samples link there).
OFFLINE_HOST = "news.example.org"


async def read_file(path: str | os.PathLike[str], source_id: str, *, base_dir: Path | None,
                    max_bytes: int, etag: str | None = None) -> FetchResult:
    """Read a local file as if it were fetched (``max_bytes`` caps it; a relative path is
    taken from ``base_dir``).

    The file's size and modification time stand in for an ETag, so polling an unchanged
    file gives ``status="not_modified"``.
    """
    file = Path(path).expanduser()
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    try:
        stat = await asyncio.to_thread(file.stat)
    except FileNotFoundError:
        raise SourceError(
            source_id, f"no such file {file}: check the source's path", retryable=False
        ) from None
    except OSError as exc:
        raise SourceError(source_id, f"cannot read {file}: {exc.strerror}") from None
    if not file.is_file():
        raise SourceError(source_id, f"{file} is not a file", retryable=False)
    if stat.st_size > max_bytes:
        raise too_large(source_id, str(file), max_bytes, "the file is larger")
    file_etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    file_modified = formatdate(stat.st_mtime, usegmt=True)
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    headers: tuple[tuple[str, str], ...] = (
        ("content-type", content_type),
        ("etag", file_etag),
        ("last-modified", file_modified),
    )
    if etag == file_etag:
        return FetchResult("not_modified", b"", str(file), content_type, None, file_etag,
                           file_modified, headers)
    try:
        body = await asyncio.to_thread(file.read_bytes)
    except OSError as exc:
        raise SourceError(source_id, f"cannot read {file}: {exc.strerror}") from None
    return FetchResult("ok", body, str(file), content_type, None, file_etag, file_modified,
                       headers)


async def read_sample_page(url: str, source_id: str, pages: Path, *,
                           max_bytes: int) -> FetchResult:
    """The sample page in ``pages`` that stands for ``url`` on ``OFFLINE_HOST`` (its last path
    segment, with or without ``.html``); any other host, or no such page, is a SourceError."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() != OFFLINE_HOST:
        raise SourceError(
            source_id,
            f"offline mode: {strip_userinfo(url)} is not on {OFFLINE_HOST}, so it cannot be "
            "served from the sample pages; run without offline pages to fetch it",
            retryable=False,
        )
    segment = unquote(parts.path.rstrip("/").rpartition("/")[2]) or "index"
    candidates = [pages / f"{segment}.html", pages / segment]
    for page in candidates:
        if page.name and "/" not in segment and page.is_file():
            result = await read_file(page, source_id, base_dir=None, max_bytes=max_bytes)
            content_type = "text/html; charset=utf-8" if page.suffix == ".html" else ""
            return FetchResult(
                "ok",
                result.body,
                url,  # relative links in the page resolve against its URL, not the file
                content_type or result.content_type,
                "utf-8" if content_type else None,
                result.etag,
                result.last_modified,
                (("content-type", content_type or result.content_type),),
            )
    raise SourceError(
        source_id,
        f"offline mode: no sample page {candidates[0]} for {strip_userinfo(url)}",
        retryable=False,
    )
