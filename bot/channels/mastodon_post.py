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

from bot.channels.front_matter import read_front_matter

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
    """``text`` without its front matter (``bot.channels.front_matter``), and the settings
    that block gave."""
    found = read_front_matter(text, KEYS, example="key: value")
    problem = found.problem
    visibility = found.values.get("visibility", "").lower()
    if visibility and visibility not in VISIBILITIES:
        problem = problem or (f"front matter visibility {visibility!r}: use one of "
                              f"{', '.join(VISIBILITIES)}")
        visibility = ""
    return PostParts(
        body=found.body,
        language=language_code(found.values.get("language", "")),
        spoiler=found.values.get("spoiler", ""),
        visibility=visibility,
        problem=problem,
    )


def language_code(value: str) -> str:
    """The language code Mastodon accepts for ``value`` ("en-US" → "en"; "" when none)."""
    match = _LANGUAGE.fullmatch(value.strip())
    return match[1].lower() if match else ""
