"""What a fetch gives: ``FetchResult``, from the network (``bot.ingest.fetch``) or from a file
(``bot.ingest.fetch_files``) alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FetchResult:
    """A fetched body (``status="ok"``), or the server's word that it has not changed."""

    status: Literal["ok", "not_modified"]
    body: bytes
    url: str  # final URL after redirects (or the file path for local files)
    content_type: str = ""
    encoding: str | None = None  # the charset the headers declared, if any
    etag: str | None = None
    last_modified: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def header_map(self) -> dict[str, str]:
        """The response headers with lowercased names (what ``parse_feed`` accepts)."""
        return {name.lower(): value for name, value in self.headers}
