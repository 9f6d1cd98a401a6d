"""The SMTP connection the digest uses: connect (TLS, AUTH) and DATA for a prepared copy.

aiosmtplib's ``SMTP.data`` re-normalises line endings and dot-stuffs the whole message with
two regular expressions on every call: for a 50 KB digest that is a third of the sender's
time per copy. The digest's copies are built in transmission form once per run
(``CopyMaker.transmission``), so ``send_prepared`` says DATA and writes those bytes as they
are. It uses aiosmtplib's public surface only (``execute_command``, the connection's
``protocol.write`` and ``read_response``) and answers errors as ``SMTP.data`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import aiosmtplib
from aiosmtplib import SMTPResponse

from bot.config import Smtp
from bot.digest.message import END_OF_DATA
from bot.errors import NewsbotError

_START_INPUT = 354
_COMPLETED = 250
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = frozenset({62, 64})


class SmtpSecurityError(NewsbotError):
    """The connection cannot be made as secure as config.yaml asks: the relay's certificate
    does not verify, it offers no STARTTLS, ``ca_file`` cannot be read, or AUTH would go out
    unencrypted. Retrying does not help: the relay or config.yaml has to change."""

    def __init__(self, host: str | None, port: int, problem: str) -> None:
        self.address = f"{host}:{port}"
        self.problem = problem
        super().__init__(f"{self.address}: {problem}")


async def connect(smtp: Smtp) -> aiosmtplib.SMTP:
    """A client connected as ``smtp.security`` says, and authenticated when a username is
    set. TLS is verified (certificate chain and host name) and never falls back to plain
    text: anything less raises SmtpSecurityError."""
    if smtp.sends_password_in_clear:
        # Config validation refuses this already; a Smtp built in code meets it here.
        raise SmtpSecurityError(smtp.host, smtp.port, "security: none would send the AUTH "
                                "password unencrypted; use security: starttls or ssl")
    client = aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, timeout=smtp.timeout.total_seconds(),
        use_tls=smtp.security == "ssl",
        # STARTTLS is done below rather than by aiosmtplib, so that a server that does not
        # offer it is a clear error (and False, not None: None would upgrade only if offered).
        start_tls=False,
        tls_context=await _tls_context(smtp) if smtp.security != "none" else None,
    )
    try:
        await client.connect()
        if smtp.security == "starttls":
            await client.ehlo()
            if not client.supports_extension("starttls"):
                raise SmtpSecurityError(
                    smtp.host, smtp.port, "the server does not offer STARTTLS, and security: "
                    "starttls never falls back to plain text; if the port speaks TLS from the "
                    "first byte (usually 465), use security: ssl")
            await client.starttls()
        if smtp.username:
            password = smtp.password.get_secret_value() if smtp.password else ""
            await client.login(smtp.username, password)
        if client.is_ehlo_or_helo_needed:
            # Know the extensions (8BITMIME) before the first copy is built, so every copy
            # on this connection is encoded alike; STARTTLS forgets the earlier EHLO.
            with contextlib.suppress(aiosmtplib.SMTPHeloError):  # HELO-only: MAIL says HELO
                await client.ehlo()
    except BaseException as exc:
        client.close()
        failure = _verification_failure(exc)
        if failure is None:
            raise
        raise SmtpSecurityError(smtp.host, smtp.port, _explain(failure, smtp)) from exc
    return client


async def _tls_context(smtp: Smtp) -> ssl.SSLContext:
    """Verification always on. With ``ca_file``, only its CAs are trusted for this relay.
    Built in a thread: loading the system's CA store blocks for a while."""
    try:
        return await asyncio.to_thread(ssl.create_default_context, cafile=smtp.ca_file)
    except (OSError, ssl.SSLError) as exc:
        # Checked when config.yaml was read; the file changed since.
        raise SmtpSecurityError(smtp.host, smtp.port, f"cannot use smtp.ca_file "
                                f"{smtp.ca_file} ({exc.strerror or exc}); fix the file or "
                                "the path in config.yaml") from exc


def _verification_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate error behind ``exc``: aiosmtplib wraps it in SMTPConnectError for
    security: ssl and lets it through as it is for STARTTLS."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _explain(failure: ssl.SSLCertVerificationError, smtp: Smtp) -> str:
    reason = failure.verify_message or str(failure)
    if failure.verify_code in _NAME_MISMATCH:
        fix = "smtp.host must be a name (or address) the relay's certificate is issued for"
    elif smtp.ca_file:
        fix = f"the relay's certificate is not signed by a CA in smtp.ca_file ({smtp.ca_file})"
    else:
        fix = "if the relay uses its own CA, set smtp.ca_file to that CA's PEM file"
    return f"TLS certificate verification failed ({reason}); {fix}"


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
