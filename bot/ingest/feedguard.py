"""Makes a fetched feed's bytes safe to hand to a parser: no entity bombs, a bounded number
of items, and UTF-8 without stray invalid bytes or XML-illegal control characters.

Kept apart from parse.py because it works on bytes, before any parser sees them, and each
guard here answers one kind of hostile input (see tests/test_hostile_input.py).
"""

from __future__ import annotations

import re

_ITEM_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")
_XML_ENCODING = re.compile(rb"^\s*<\?xml\b[^>]*?\bencoding\s*=\s*[\"']([A-Za-z0-9._-]+)", re.I)
# XML forbids C0 controls other than tab, CR and LF; in UTF-8 these bytes only ever stand
# for themselves, so dropping them cannot split a character. (bytes.translate deletes them
# several times faster than a regular expression finds them.)
_C0_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE\b[^\[>]*\[(.*?)\]\s*>", re.S | re.I)
_ENTITY_DECL = re.compile(rb"<!ENTITY\b", re.I)
_PLAIN_ENTITY = re.compile(
    rb"<!ENTITY\s+[\w.:-]+\s+(?:\"(?:[^\"&%]|&\#\w+;)*\"|'(?:[^'&%]|&\#\w+;)*')\s*>", re.I
)
_SMALL_SUBSET = 4096  # bytes: a few character entities, never a payload


def repair_utf8(body: bytes, charset: str) -> tuple[bytes, list[str]]:
    """Drop stray invalid UTF-8 bytes and XML-illegal control characters from a UTF-8 feed.

    Left alone: UTF-16/32 bodies, bodies that declare another encoding, and bodies whose
    non-ASCII bytes are nearly all invalid UTF-8 (a legacy encoding mislabelled: feedparser's
    own fallback reads those better than dropping every accented letter would).
    """
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
        return body, []
    if not charset:
        found = _XML_ENCODING.match(body[:1024])
        charset = found.group(1).decode("ascii") if found else "utf-8"
    if charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return body, []
    problems: list[str] = []
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        replaced = body.decode("utf-8", "replace")
        bad = replaced.count("\ufffd") - body.count("\ufffd".encode())
        good = len(replaced) - len(replaced.encode("ascii", "ignore")) - bad
        if not _reads_as_utf8(good, bad):
            return body, []
        body = body.decode("utf-8", "ignore").encode("utf-8")
        problems.append(f"{bad:,} invalid UTF-8 byte sequence(s) dropped")
    kept = body.translate(None, _C0_BYTES)
    controls = len(body) - len(kept)
    if controls:
        body = kept
        problems.append(f"{controls:,} control character(s) not allowed in XML dropped")
    return body, problems


#: A legacy (Latin-1, cp1252) text forms a valid multi-byte UTF-8 sequence only by accident
#: ("Ã©" in a row), while the body says it is UTF-8; so one valid sequence outweighs several
#: stray invalid bytes, and a mostly-ASCII feed with a few broken bytes stays UTF-8 (reading
#: it as cp1252 turned every "é" in it into "Ã©").
_INVALID_PER_VALID = 8


def _reads_as_utf8(valid: int, invalid: int) -> bool:
    """Whether a body with ``valid`` non-ASCII characters that decode as UTF-8 and
    ``invalid`` byte sequences that do not is UTF-8 with damage, not another encoding."""
    return valid > 0 and invalid <= valid * _INVALID_PER_VALID


def defuse_entities(body: bytes) -> tuple[bytes, bool]:
    """Drop a DOCTYPE internal subset that could expand (billion laughs, quadratic blowup).

    feedparser hands "safe-looking" entity declarations to expat, and only newer expat
    versions cap the expansion; not relying on that, any subset that is large, declares
    parameter or external entities, or has entities referring to other entities is removed
    before parsing. Small subsets of plain character entities are left for expat.
    """
    first = _FIRST_ELEMENT.search(body)
    end = first.start() if first else len(body)
    found = _INTERNAL_SUBSET.search(body, 0, end)
    if found is None or not _ENTITY_DECL.search(found.group(1)):
        return body, False
    subset = found.group(1)
    declared = len(_ENTITY_DECL.findall(subset))
    plain = len(_PLAIN_ENTITY.findall(subset))
    if len(subset) <= _SMALL_SUBSET and declared == plain:
        return body, False
    return body[: found.start()] + body[found.end() :], True


def first_items(body: bytes, limit: int) -> tuple[bytes, int]:
    """The document with only its first ``limit`` items, and how many it had.

    Everything after the last item (the closing tags) is kept, so the cut document is as
    well-formed as the original. Feeds in UTF-16 are not counted (the fetch cap bounds them).
    """
    total = 0
    cut = last = 0
    for total, match in enumerate(_ITEM_END.finditer(body), 1):
        if total == limit:
            cut = match.end()
        last = match.end()
    if total <= limit:
        return body, total
    return body[:cut] + body[last:], total


def too_many(total: int, limit: int) -> str:
    return (
        f"the feed has {total:,} items; only the first {limit:,} were read "
        "(feeds list their newest items first)"
    )
