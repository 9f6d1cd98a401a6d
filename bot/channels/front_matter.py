"""The front-matter block a platform's template may start a post with.

The renderer hands a channel only the rendered text, so settings a platform takes apart from
the text (Mastodon's language, content warning and visibility; Bluesky's ``langs``) are
written by the template as a block at the very start of its output::

    ---
    key: value
    ---
    The post's text…

Only a block at the very start is read (the rest of the post, feed text included, never is),
and only the keys the platform names. Each platform's module checks the values. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

FENCE = "---"


@dataclass(frozen=True)
class FrontMatter:
    """A rendered post split into its text and its front matter's ``key: value`` lines."""

    body: str
    values: dict[str, str] = field(default_factory=dict)  # key -> value, spaces collapsed
    problem: str = ""  # why the front matter is unusable ("" when it is fine)


def read_front_matter(text: str, keys: Sequence[str], *, example: str) -> FrontMatter:
    """``text`` without its front matter, and the values that block gave for ``keys``.

    Text that does not start with ``---`` on a line of its own, or whose block is never
    closed, has no front matter: all of it is the body. An unknown key or one set twice is a
    ``problem`` (``example``, as ``"langs: en"``, shows the form in its message); the first
    value of a key is kept.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[0].strip() != FENCE:
        return FrontMatter("\n".join(lines).strip())
    end = next((i for i, line in enumerate(lines[1:], start=1) if line.strip() == FENCE), 0)
    if not end:
        return FrontMatter("\n".join(lines).strip())
    values: dict[str, str] = {}
    problem = ""
    known = (f"the only key is {keys[0]}" if len(keys) == 1
             else f"the keys are {', '.join(keys)}")
    for line in lines[1:end]:
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon or key not in keys:
            problem = problem or f"front matter line {line.strip()!r}: {known} (as {example!r})"
        elif key in values:
            problem = problem or f"front matter sets {key!r} twice"
        else:
            values[key] = " ".join(value.split())
    return FrontMatter("\n".join(lines[end + 1:]).strip(), values, problem)
