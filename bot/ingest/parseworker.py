"""A parser process: ``python -m bot.ingest.parseworker`` reads requests on stdin and writes
``Parsed`` feeds on stdout, one at a time, for ``parsepool.ParserPool``.

Each message is a 4-byte big-endian length and a pickle. Only the parent that started this
process writes to it: pickles never cross a trust boundary. One byte, written once the
imports are done, tells the parent the worker is ready (so start-up never counts against a
feed's time budget).
"""

from __future__ import annotations

import pickle
import struct
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from bot.errors import SourceError

if TYPE_CHECKING:
    from bot.ingest.parse import ParsedFeed
    from bot.models import FeedItem

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class Parsed:
    """A parsed feed and, when the request asked for it (``"as_fed": True``), each item as
    ``enrich.as_fed`` makes it (None: unchanged), worked out here beside the parse so the
    event loop need not (a source with fetch_pages: never stores its new items that way)."""

    feed: ParsedFeed
    as_fed: tuple[FeedItem | None, ...] | None = None


def parse(request: dict[str, Any]) -> Parsed:
    """``parse_feed`` on the request's arguments, and its items as fed if asked."""
    from bot.ingest.parse import parse_feed

    wanted = request.pop("as_fed", False)
    feed = parse_feed(**request)
    if not wanted:
        return Parsed(feed)
    from bot.ingest.enrich import as_fed

    settled = [as_fed(item) for item in feed.items]
    return Parsed(feed, tuple(None if s is item else s
                              for s, item in zip(settled, feed.items, strict=True)))


def read_message(stream: IO[bytes]) -> Any | None:
    """The next message, or None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    return pickle.loads(stream.read(size))


#: The bytes that say how long a message is.
HEADER_SIZE = _LENGTH.size


def body_size(header: bytes) -> int:
    """The length of the message that ``header`` (``HEADER_SIZE`` bytes) starts."""
    (size,) = _LENGTH.unpack(header)
    return int(size)


def encode_message(message: object) -> bytes:
    """``message`` as written on the pipe (its length, then its pickle)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def write_message(stream: IO[bytes], message: object) -> None:
    stream.write(encode_message(message))
    stream.flush()


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    # Imported before the ready byte (the parent imports this module for its message format
    # only): a worker's start-up never counts against a feed's budget.
    import bot.ingest.enrich
    import bot.ingest.parse  # noqa: F401

    replies.write(b"R")
    replies.flush()
    while (request := read_message(requests)) is not None:
        try:
            reply: tuple[str, object] = ("ok", parse(request))
        except SourceError as exc:  # parse_feed turns every other failure into one
            reply = ("error", (exc.source_id, exc.problem, exc.retryable))
        write_message(replies, reply)


if __name__ == "__main__":
    # Served by the importable module, not __main__, so its replies unpickle in the parent.
    from bot.ingest import parseworker

    parseworker.serve(sys.stdin.buffer, sys.stdout.buffer)
