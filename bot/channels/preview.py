"""The preview channel: writes each rendered post to a file and prints it, sends nothing.

Used for a channel whose credentials are absent, and for every channel under ``--dry-run``,
so a newcomer sees exactly what would be posted before giving the bot any token.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import TextIO

from bot.models import Receipt, RenderedPost


def _slug(text: str, size: int = 48) -> str:
    slug = re.sub(r"[^\w]+", "-", text.casefold()).strip("-")
    return slug[:size].strip("-") or "post"


class PreviewChannel:
    """A Channel that writes ``<dir>/<channel>/<article id>-<slug>.<ext>``."""

    def __init__(self, name: str, directory: Path, *, reason: str, markup: str,
                 echo: TextIO | None = None) -> None:
        self.name = name
        self.directory = directory
        self.reason = reason
        self.extension = "html" if markup == "html" else "txt"
        self.echo = echo if echo is not None else sys.stdout

    def path_for(self, post: RenderedPost) -> Path:
        first_line = post.text.strip().splitlines()[0] if post.text.strip() else ""
        title = html.unescape(re.sub(r"<[^>]+>", "", first_line))
        return self.directory / self.name / f"{post.article_id}-{_slug(title)}.{self.extension}"

    async def send(self, post: RenderedPost) -> Receipt:
        return self.show(post)

    def show(self, post: RenderedPost, when: str = "") -> Receipt:
        """Write and print ``post``; ``when`` says when the real run would send it."""
        path = self.path_for(post)
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = [post.text]
        if post.image_url:
            parts.append(f"\n[image: {post.image_url} | alt: {post.image_alt}]")
        for number, reply in enumerate(post.thread, start=2):
            parts.append(f"\n--- reply {number} ---\n{reply}")
        body = "\n".join(parts) + "\n"
        path.write_text(body, encoding="utf-8")
        rule = "─" * 72
        heading = f"[preview] {self.name} · article {post.article_id}"
        if when:
            heading += f" · {when}"
        self.echo.write(f"{rule}\n{heading} · {path}\n{body}")
        self.echo.flush()
        return Receipt(platform_id="", url=path.resolve().as_uri(),
                       note=f"preview only, not sent: {self.reason}")

    async def edit(self, platform_id: str, post: RenderedPost) -> Receipt:
        """A correction, previewed: written beside the post as ``…-correction.<ext>``."""
        path = self.path_for(post)
        path = path.with_name(f"{path.stem}-correction{path.suffix}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(post.text + "\n", encoding="utf-8")
        rule = "─" * 72
        self.echo.write(f"{rule}\n[preview] {self.name} · correction of {platform_id} · "
                        f"{path}\n{post.text}\n")
        self.echo.flush()
        return Receipt(platform_id=platform_id, url=path.resolve().as_uri(),
                       note=f"preview only, not edited: {self.reason}")

    async def close(self) -> None:
        return None
