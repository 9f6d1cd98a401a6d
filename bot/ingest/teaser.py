"""Teasers: feed summaries that are the story's first lines cut short.

Many feeds carry the first 120–300 characters of the story cut with ``...``, ``…``, ``[…]``
or a "Read more" link. Posted as a summary, that stub stops mid-sentence. A teaser is
replaced by the page's lede when the page is fetched, and otherwise ends cleanly.
"""

from __future__ import annotations

import re

from bot.ingest.debris import fold

# The cut and its trimmings at the end: "...", "…", "[…]", "[...]", "Read more »",
# "Continue reading →", "(more)", and the same in Arabic, Chinese and Japanese.
_TEASER_TAIL = re.compile(
    r"(?:\s*(?:\.{3,}|…|\[\s*(?:…|\.{3})\s*\]|\(\s*(?:…|\.{3})\s*\)))?"
    r"(?:\s*(?:read\s+more|continue\s+reading|keep\s+reading|read\s+the\s+(?:full|rest|whole)"
    r"(?:\s+(?:story|article|post))?|full\s+story|more|the\s+post\b.{0,120}\bappeared\s+first"
    r"\s+on\b.{0,120}|اقرأ\s+المزيد|تابع\s+القراءة|阅读全文|閱讀全文|查看全文|続きを読む)"
    r"\s*(?:»|›|→|\.{3}|…|>+|\))?)?\s*$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?؟。！？\"'”’»)]\s*$")
_TRAILING = " \t\n,;:\u060c\u061b-\u2013\u2014([{\"'\u201c\u2018\u00ab"


# What a cut mark can end with (before trailing space): "...", an ellipsis or bracket, a
# closing arrow, or the last letter of one of _TEASER_TAIL's phrases (more, reading, full,
# rest, whole, story, article, post, and the Arabic, Chinese and Japanese ones) in either
# case (no other character matches these letters under re.IGNORECASE). The one phrase that
# may end in anything, "The post … appeared first on …", holds "appeared".
_TAIL_LAST = frozenset("…])»›→>" "eEgGlLtTyY" "دة文む")


def _may_end_in_mark(text: str) -> bool:
    """False only when ``_TEASER_TAIL`` cannot match anything but the empty end of ``text``:
    most summaries end in a plain sentence ("… officials said."), and the full pattern, tried
    at every position, costs about 20 µs a summary."""
    last = text[-1:]
    return (not last or last in _TAIL_LAST or last.isspace() or text.endswith("...")
            or "appeared" in text.lower())


def _strip_tail(text: str) -> str:
    if not _may_end_in_mark(text):
        return text
    # Feeds stack the marks ("… … Continue reading →"): strip until none is left.
    for _ in range(5):
        stripped = _TEASER_TAIL.sub("", text).rstrip()
        if stripped == text:
            break
        text = stripped
    return text


def is_teaser(summary: str, page_lede: str = "") -> bool:
    """True when ``summary`` is the story's start cut short, not a summary of its own.

    It ends in an ellipsis, ``[…]``, "Read more", "Continue reading" or the like, or it
    stops mid-sentence, or (when the page's lede is known) it is a prefix of that lede.
    """
    text = " ".join(summary.split())
    if not text:
        return False
    if _strip_tail(text) != text:
        return True
    if not _SENTENCE_END.search(text):
        return True
    if page_lede:
        head, lede = fold(text), fold(page_lede)
        return len(head) < len(lede) and lede.startswith(head)
    return False


def clean_teaser(summary: str) -> str:
    """A teaser that ends cleanly: its last whole word, then one ``…``.

    Only a summary marked as cut (an ellipsis, ``[…]``, "Read more" …) is changed: the marks
    go, a word the ellipsis is glued to goes (the feed may have cut it in half), and the
    text ends with one ``…`` (or with its own full stop when only a "Read more" followed
    a finished sentence). An unmarked summary is returned as it is.
    """
    return clean_collapsed(" ".join(summary.split()))


def clean_collapsed(text: str) -> str:
    """``clean_teaser`` of a summary whose whitespace is already collapsed (``" ".join(
    summary.split())``, which its caller has at hand to compare the result with)."""
    stripped = _strip_tail(text)
    if stripped == text:
        return text
    has_ellipsis = bool(re.search(r"(?:\.{3,}|…|\[\s*(?:…|\.{3})\s*\]|\(\s*(?:…|\.{3})\s*\))",
                                  text[len(stripped):]))
    if not has_ellipsis and _SENTENCE_END.search(stripped):
        return stripped  # "… he said. Read more »"
    if has_ellipsis and re.match(r"\w", text[len(stripped):len(stripped) + 1] or " ") is None \
            and re.search(r"\w$", stripped) and not text[len(stripped):].startswith(" "):
        # "…to prev..." : the ellipsis is glued to the word, which may be cut in half.
        stripped = stripped.rsplit(" ", 1)[0] if " " in stripped else stripped
    stripped = stripped.rstrip(_TRAILING + ".…").rstrip()
    return stripped + "…" if stripped else ""
