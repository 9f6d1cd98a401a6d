"""A parser process: ``python -m bot.ingest.parseworker`` reads requests on stdin and writes
``ParsedFeed``s on stdout, one at a time, for ``parsepool.ParserPool``.

Each message is a 4-byte big-endian length and a pickle. Only the parent that started this
process writes to it: pickles never cross a trust boundary. One byte, written once the
imports are done, tells the parent the worker is ready (so start-up never counts against a
feed's time budget).
"""

from __future__ import annotations

import pickle
import struct
import sys
from typing import IO, Any

from bot.errors import SourceError

_LENGTH = struct.Struct(">I")


def read_message(stream: IO[bytes]) -> Any | None:
    """The next message, or None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    return pickle.loads(stream.read(size))


def write_message(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    # Imported here, not above: the parent imports this module for its message format only.
    from bot.ingest.parse import parse_feed

    replies.write(b"R")
    replies.flush()
    while (request := read_message(requests)) is not None:
        try:
            reply: tuple[str, object] = ("ok", parse_feed(**request))
        except SourceError as exc:  # parse_feed turns every other failure into one
            reply = ("error", (exc.source_id, exc.problem, exc.retryable))
        write_message(replies, reply)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
