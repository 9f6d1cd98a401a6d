"""A Mastodon post's own settings, written by its template at the top of the post.

A post carries more than its text on Mastodon: its language, a content warning (the
``spoiler_text`` shown before the post is opened) and its visibility. The renderer hands a
channel only the rendered text, so a Mastodon template writes them as a front-matter block
at the very start of its output::

    ---
    language: en
    spoiler: Graphic images
    visibility: unlisted
    ---
    The post's text…

Only a block at the very start is read (the rest of the post, feed text included, never is),
each key at most once, and an empty value means "not set" (the channel's setting applies).
Pure, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = "---"
KEYS = ("language", "spoiler", "visibility")
VISIBILITIES = ("public", "unlisted", "private", "direct")
# ISO 639-1 or 639-3, as Mastodon takes it; "en-US" and "en_us" become "en".
_LANGUAGE = re.compile(r"([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]{1,8})*")


@dataclass(frozen=True)
class PostParts:
    """A rendered post split into what Mastodon takes separately."""

    body: str  # the status text
    language: str = ""
    spoiler: str = ""
    visibility: str = ""
    problem: str = ""  # why the front matter is unusable ("" when it is fine)


def split_post(text: str) -> PostParts:
    """``text`` without its front matter, and the settings that block gave.

    Text that does not start with ``---`` on a line of its own, or whose block is never
    closed, has no front matter: all of it is the body.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != FENCE:
        return PostParts(body=text.strip())
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == FENCE)
    except StopIteration:
        return PostParts(body=text.strip())
    values: dict[str, str] = {}
    problem = ""
    for line in lines[1:end]:
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon or key not in KEYS:
            problem = problem or (f"front matter line {line.strip()!r}: the keys are "
                                  f"{', '.join(KEYS)} (as 'key: value')")
            continue
        if key in values:
            problem = problem or f"front matter sets {key!r} twice"
        values[key] = " ".join(value.split())
    visibility = values.get("visibility", "").lower()
    if visibility and visibility not in VISIBILITIES:
        problem = problem or (f"front matter visibility {visibility!r}: use one of "
                              f"{', '.join(VISIBILITIES)}")
        visibility = ""
    return PostParts(
        body="\n".join(lines[end + 1:]).strip(),
        language=language_code(values.get("language", "")),
        spoiler=values.get("spoiler", ""),
        visibility=visibility,
        problem=problem,
    )


def language_code(value: str) -> str:
    """The language code Mastodon accepts for ``value`` ("en-US" → "en"; "" when none)."""
    match = _LANGUAGE.fullmatch(value.strip())
    return match[1].lower() if match else ""
