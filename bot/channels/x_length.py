"""X's length rules: twitter-text v3 weighted length, and cutting text into valid posts.

X counts a post by weight, not by characters (most Latin, Arabic and punctuation weigh 1; CJK,
emoji and "…" weigh 2; every URL weighs 23), after NFC normalisation, with 280 the maximum.
``twitter-text-parser`` implements those rules; this module only builds on it. Pure, no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from twitter_text import parse_tweet

from bot.channels.base import PostFormat, TextMeasure
from bot.text import is_joiner, safe_cut, split_sentences

MAX_WEIGHTED_LENGTH = 280

# twitter-text rejects these outright; they carry no meaning in a news post.
_INVALID = re.compile("[\ufffe\ufeff\uffff]")
_SPACE = re.compile(r"\s")


def normalize(text: str) -> str:
    """``text`` as X counts it: NFC, ``\\n`` line endings, no characters X rejects."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _INVALID.sub("", text)


def weighted_length(text: str) -> int:
    """The twitter-text v3 weighted length of ``text`` (URLs 23, CJK and emoji 2)."""
    return int(parse_tweet(normalize(text)).weightedLength)


def is_valid_post(text: str) -> bool:
    """True when X accepts ``text`` as a post: not blank, valid and at most 280 weighted."""
    text = normalize(text)
    return bool(text.strip()) and parse_tweet(text).valid


def measure(text: str) -> TextMeasure:
    """``text``'s twitter-text weighted length against 280, and why X would refuse it."""
    text = normalize(text)
    result = parse_tweet(text)
    size = int(result.weightedLength)
    unit = "weighted characters"
    if not text.strip():
        return TextMeasure(size, MAX_WEIGHTED_LENGTH, unit, "the post is empty")
    if size > MAX_WEIGHTED_LENGTH:
        return TextMeasure(size, MAX_WEIGHTED_LENGTH, unit,
                           f"X counts {size} (every link 23; emoji, CJK and … 2); a post may "
                           f"have at most {MAX_WEIGHTED_LENGTH}")
    if not result.valid:
        return TextMeasure(size, MAX_WEIGHTED_LENGTH, unit,
                           "X refuses characters in this text (control or unassigned ones)")
    return TextMeasure(size, MAX_WEIGHTED_LENGTH, unit)


@dataclass(frozen=True)
class XPostFormat:
    """The ``PostFormat`` for X: plain text, valid by twitter-text v3 weighting.

    An attached image does not count towards the length, so ``with_media`` changes nothing.
    """

    media: bool = False
    hashtags: int = 2
    threads: bool = False
    markup: str = "text"

    def fits(self, text: str, *, with_media: bool) -> bool:
        return is_valid_post(text)

    def measure(self, text: str, *, with_media: bool) -> TextMeasure:
        """The weighted length (every link 23) against 280, and why X would refuse it."""
        return measure(text)

    def thread_parts(self, summary_rest: str, *, reserve: str = "") -> tuple[str, ...]:
        """The rest of a summary as thread replies, cut at sentence ends, each valid with
        ``reserve`` (room for the part's number) appended (see ``sentence_parts``)."""
        return sentence_parts(normalize(summary_rest).strip(),
                              lambda text: is_valid_post(text + reserve))


def _valid_prefix_end(text: str) -> int:
    """How many code points of ``text`` twitter-text counts as within the limit."""
    result = parse_tweet(text)
    if result.weightedLength <= MAX_WEIGHTED_LENGTH:
        return len(text)
    units = result.validRangeEnd + 1  # UTF-16 units, inclusive end
    count = 0
    for index, ch in enumerate(text):
        count += 2 if ord(ch) > 0xFFFF else 1
        if count > units:
            return index
    return len(text)


def fitting_cut(text: str, fits: Callable[[str], bool]) -> int:
    """The largest index ``i`` such that ``fits(text[:i].rstrip())``, preferring word ends.

    ``text`` should be ``normalize``d. Cuts at whitespace when any word boundary works,
    otherwise (CJK, long tokens) between characters without splitting a combining or emoji
    sequence. Returns ``len(text)`` when all of it fits and 0 when nothing does.
    """
    if fits(text):
        return len(text)
    end = _valid_prefix_end(text)
    boundaries = [m.start() for m in _SPACE.finditer(text, 0, min(end + 1, len(text)))]
    for pos in reversed(boundaries):
        head = text[:pos].rstrip()
        if head and fits(head):
            return pos
    pos = safe_cut(text, min(end, len(text) - 1))
    while pos > 0 and not fits(text[:pos]):
        pos = safe_cut(text, pos - 1)
    return pos


def thread_parts(
    summary_rest: str, fmt: PostFormat, *, numbered: bool = False
) -> tuple[str, ...]:
    """Split the rest of a summary into replies, each a valid post by ``fmt``.

    Parts are cut at word boundaries (between characters where the script has no spaces, as
    in CJK), whitespace at the cuts is dropped, and no text is lost except characters X
    rejects. With ``numbered``, each reply ends with " k/N" where the first post (not
    returned here) is 1/N and the replies are 2/N … N/N. ``""`` gives ``()``.
    """
    rest = normalize(summary_rest).strip()
    if not rest:
        return ()
    digits = 1
    while True:
        reserve = f" {'9' * digits}/{'9' * digits}" if numbered else ""
        parts = _split(rest, functools.partial(_fits_with, fmt, reserve))
        total = len(parts) + 1
        if not numbered:
            return parts
        if len(str(total)) <= digits:
            return tuple(f"{part} {k}/{total}" for k, part in enumerate(parts, start=2))
        digits += 1


#: A thread part shorter than this reads as a fragment: it joins the part before it.
MIN_PART_CHARS = 40


def sentence_parts(text: str, fits: Callable[[str], bool], *,
                   min_chars: int = MIN_PART_CHARS) -> tuple[str, ...]:
    """``text`` packed into parts that each ``fits``, cut only at sentence ends.

    A sentence too long for a part on its own is cut at word boundaries (see
    ``fitting_cut``). A part under ``min_chars`` characters is merged into the one before it
    when the two fit together, so no reply reads as a stray fragment. ``""`` gives ``()``.
    """
    parts: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        joined = f"{current} {sentence}" if current else sentence
        if fits(joined):
            current = joined
            continue
        if current:
            parts.append(current)
        if fits(sentence):
            current = sentence
            continue
        pieces = _split(sentence, fits)
        parts.extend(pieces[:-1])
        current = pieces[-1] if pieces else ""
    if current:
        parts.append(current)
    merged: list[str] = []
    for part in parts:
        if merged and len(part) < min_chars and fits(f"{merged[-1]} {part}"):
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return tuple(merged)


def _fits_with(fmt: PostFormat, reserve: str, text: str) -> bool:
    return fmt.fits(text + reserve, with_media=False)


def _split(text: str, fits: Callable[[str], bool]) -> tuple[str, ...]:
    parts: list[str] = []
    while text:
        cut = fitting_cut(text, fits)
        if cut == 0:
            # One grapheme that cannot fit on its own (hundreds of combining marks): drop it.
            cut = 1
            while cut < len(text) and is_joiner(text[cut]):
                cut += 1
            text = text[cut:].lstrip()
            continue
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return tuple(parts)
