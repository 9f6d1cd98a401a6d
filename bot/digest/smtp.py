"""The SMTP connection the digest uses: connect (TLS, AUTH) and DATA for a prepared copy.

aiosmtplib's ``SMTP.data`` re-normalises line endings and dot-stuffs the whole message with
two regular expressions on every call: for a 50 KB digest that is a third of the sender's
time per copy. The digest's copies are built in transmission form once per run
(``CopyMaker.transmission``), so ``send_prepared`` says DATA and writes those bytes as they
are. It uses aiosmtplib's public surface only (``execute_command``, the connection's
``protocol.write`` and ``read_response``) and answers errors as ``SMTP.data`` does.
"""

from __future__ import annotations

import aiosmtplib
from aiosmtplib import SMTPResponse

from bot.config import Smtp
from bot.digest.message import END_OF_DATA

_START_INPUT = 354
_COMPLETED = 250


async def connect(smtp: Smtp) -> aiosmtplib.SMTP:
    """A connected (and, when a username is set, authenticated) SMTP client."""
    client = aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, timeout=smtp.timeout.total_seconds(),
        use_tls=smtp.security == "ssl", start_tls=smtp.security == "starttls",
        username=smtp.username or None,
        password=smtp.password.get_secret_value() if smtp.password and smtp.username else None,
    )
    await client.connect()
    return client


async def send_prepared(client: aiosmtplib.SMTP, wire: bytes) -> SMTPResponse:
    """DATA with ``wire`` already in transmission form: CRLF line endings, dot-stuffed,
    ending with the end-of-data line (what ``CopyMaker.transmission`` returns).

    Raises ``SMTPDataError`` when the server refuses, and ``SMTPServerDisconnected`` or
    ``SMTPTimeoutError`` (after closing the client) when the connection fails, as
    ``SMTP.data`` does. One caller per connection: the sender's workers each own theirs.
    """
    if not wire.endswith(b"\r\n" + END_OF_DATA):
        raise ValueError("not a prepared DATA payload (use CopyMaker.transmission)")
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    start = await client.execute_command(b"DATA")
    if start.code != _START_INPUT:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    try:
        # No await between the write and read_response: the answer cannot arrive before
        # the protocol expects it.
        protocol.write(wire)
        response = await protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if response.code != _COMPLETED:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response
