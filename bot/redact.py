"""Keep secrets out of logs and error messages, whoever writes them.

httpx logs every request URL at INFO, and a Telegram bot token is part of that URL;
python-telegram-bot logs its base URL (token included) at DEBUG and can put URLs in its errors.
``install_redaction(*secrets)`` makes every log record created from then on carry ``[REDACTED]``
in place of each registered secret and of anything shaped like a bot token, whichever logger
or handler it passes through. Every channel registers its credentials before it builds a client.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any

#: Anything shaped like a Telegram bot token, registered or not.
BOT_TOKEN = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")
MASK = "[REDACTED]"
_LOGGERS = ("httpx", "httpcore", "telegram")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_factory_installed = False


def redact(text: str) -> str:
    """``text`` with every registered secret and every bot-token-shaped string masked."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return BOT_TOKEN.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and formatted traceback) with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub(record)
        return True


def _scrub(record: logging.LogRecord) -> None:
    if getattr(record, "_newsbot_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not hide the record
        message = f"{record.msg!r} {record.args!r}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._newsbot_redacted = True


def install_redaction(*secrets: str | None) -> None:
    """Register ``secrets`` process-wide and make sure every log record is scrubbed of them.

    Idempotent. Scrubbing happens when a record is created (a record factory), so handlers
    added later — a test's capture handler, a file handler — never see a secret either; the
    filter is also attached to the root logger's handlers and the httpx, httpcore and telegram
    loggers for code that builds records by hand.
    """
    global _pattern, _factory_installed
    with _lock:
        fresh = {s for s in secrets if s and len(s) >= 4} - _secrets
        if fresh:
            _secrets.update(fresh)
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))
        if not _factory_installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                _scrub(record)
                return record

            logging.setLogRecordFactory(factory)
            _factory_installed = True
        _attach(logging.getLogger())
        for name in _LOGGERS:
            _attach(logging.getLogger(name))


def _attach(logger: logging.Logger) -> None:
    targets: list[logging.Filterer] = [logger, *logger.handlers]
    for target in targets:
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
