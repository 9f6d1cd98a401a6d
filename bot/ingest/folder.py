"""A folder as a source: each ``.html``, ``.txt`` or ``.md`` file dropped there is an article.

A newsroom's CMS export or a scraper writes files into the folder; each poll reads the
folder and every file not seen before becomes an item, announced like a feed's. The file's
URL comes from a ``URL:`` line (text) or ``<link rel=canonical>`` (HTML); failing that, it
is ``public_url`` + the file's name. A file that is not an article (empty, binary, over
``fetch.max_bytes``) is reported in the poll's notes (``newsbot status``) by name, is never
posted, and never stops the other files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bot.ingest.article_file import (
    ARTICLE_SUFFIXES,
    NotAnArticle,
    check_article_bytes,
    read_article_file,
)
from bot.ingest.parse import ParsedFeed
from bot.ingest.urls import canonical_url
from bot.models import FeedItem

MAX_FILES = 500  # newest files read per poll; older ones were read by earlier polls
FOLDER_PARSER = "folder"


@dataclass(frozen=True)
class FolderFile:
    path: Path
    size: int
    mtime_ns: int


def is_folder_source(location: Path) -> bool:
    return location.is_dir()


def list_article_files(folder: Path) -> list[FolderFile]:
    """The folder's article files (by suffix), newest first, at most MAX_FILES."""
    found: list[FolderFile] = []
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix.lower() not in ARTICLE_SUFFIXES:
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file():
            found.append(FolderFile(path, stat.st_size, stat.st_mtime_ns))
    found.sort(key=lambda f: (f.mtime_ns, f.path.name), reverse=True)
    return found[:MAX_FILES]


def read_folder(source_id: str, folder: Path, *, public_url: str, max_bytes: int,
                language: str = "", since_ns: int | None = None) -> ParsedFeed:
    """The article files in ``folder`` as items (guid ``file:NAME``), and a note per file that
    is not an article (on every poll while it is there, so ``newsbot status`` keeps showing
    it). ``since_ns``: files last changed before this (the previous poll) were read then and
    are not read again."""
    items: list[FeedItem] = []
    problems: list[str] = []
    for file in list_article_files(folder):
        shown = f"file {file.path.name!r} in {folder}"
        if file.size > max_bytes:
            problems.append(f"{shown} is not an article: {file.size:,} bytes, over "
                            f"fetch.max_bytes ({max_bytes:,}); not posted")
            continue
        url = public_url.rstrip("/") + "/" + quote(file.path.name)
        try:
            if since_ns is not None and file.mtime_ns < since_ns:
                with file.path.open("rb") as handle:
                    check_article_bytes(handle.read(8192))  # cheap: still worth a note?
                continue
            article = read_article_file(file.path.read_bytes(), file.path.name, base_url=url)
        except NotAnArticle as exc:
            problems.append(f"{shown} is not an article: {exc}; not posted")
            continue
        except OSError as exc:
            problems.append(f"{shown} could not be read ({exc.strerror}); will try again")
            continue
        page = article.page
        items.append(FeedItem(
            source_id=source_id, guid=folder_guid(file), url=canonical_url(article.url or url),
            title=page.title, summary=page.lede, text=page.text, language=page.language or language,
            image_url=page.image_url, image_alt=page.image_alt))
    return ParsedFeed(title=folder.name, items=tuple(items), problems=tuple(problems),
                      parser=FOLDER_PARSER)


def folder_guid(file: FolderFile) -> str:
    """A file's identity: its name (an edited file is the same article, refreshed)."""
    return f"file:{file.path.name}"
