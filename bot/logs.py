"""Logging setup: secrets never reach a log line; chatty loggers kept at WARNING.

Secrets are redacted twice: by pattern (anything shaped like a Telegram bot token) and by value
(every secret configured in the settings, whatever it looks like), in the message *and* in a
formatted traceback. The terminal gets one line per record (tracebacks only with ``--debug``);
the log file gets the full traceback, redacted the same way.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from collections.abc import Iterable
from pathlib import Path

_TOKEN = re.compile(r"(bot)?\d{5,}:[A-Za-z0-9_-]{30,}")
_MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words
QUIET = (
    "httpx",
    "httpcore",
    "telegram.ext",
    "apscheduler",
    "aiohttp",  # the Bot API client (its URLs hold the token) and the fakes' access log
    "alembic",
    "oauthlib",  # prints the X consumer key and access token at DEBUG
    "requests_oauthlib",
    "urllib3",
    "tweepy",
)
RATE_LIMITER_LOGGER = "telegram.ext.AIORateLimiter"


class Redactor:
    """Masks bot tokens by pattern and the configured secrets by value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if s and len(s) >= _MIN_SECRET_CHARS}
        self._values = sorted(set(self._values) | values, key=len, reverse=True)

    def replace(self, secrets: Iterable[str]) -> None:
        self._values = []
        self.add(secrets)

    def __call__(self, text: str) -> str:
        text = _TOKEN.sub(lambda m: (m.group(1) or "") + "<token>", text)
        for value in self._values:
            if value in text:
                text = text.replace(value, "<secret>")
        return text


_redactor = Redactor()


def redact(text: str) -> str:
    """Redact with everything registered so far (patterns and configured secret values)."""
    return _redactor(text)


def register_secrets(secrets: Iterable[str]) -> None:
    _redactor.add(secrets)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message (URLs included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record, traceback included; without ``tracebacks`` an
    exception is reduced to its type and message on the same line."""

    def __init__(self, fmt: str, *, tracebacks: bool) -> None:
        super().__init__(fmt)
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self._tracebacks or record.exc_info is None:
            return redact(super().format(record))
        exc = record.exc_info[1]
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            line = super().format(record)
        finally:
            record.exc_info, record.exc_text = saved
        if exc is not None:
            line += f" ({type(exc).__name__}: {exc})"
        return redact(line)


class RateLimitNotice(logging.Filter):
    """PTB's AIORateLimiter logs every 429 with a full traceback at ERROR: the ledger already
    waits ``retry_after``, so one WARNING line says enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "Telegram answered 429 (rate limit): waiting as told", None
            record.exc_info, record.exc_text = None, None
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SHORT_FORMAT = "%(levelname)s: %(message)s"  # one-shot commands: no timestamps on the terminal


def setup_logging(
    level: str,
    *,
    secrets: Iterable[str] = (),
    debug: bool = False,
    log_file: Path | None = None,
    short: bool = False,
) -> None:
    """Console handler (one line per record unless ``debug``) and, with ``log_file``, a
    rotating file that keeps full (redacted) tracebacks. Replaces the root handlers."""
    _redactor.replace(secrets)  # this process's secrets (a new setup replaces the old ones)
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler()
    console.setFormatter(RedactingFormatter(SHORT_FORMAT if short else FORMAT, tracebacks=debug))
    console.addFilter(RedactingFilter())
    handlers.append(console)
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            file = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
            )
            log_file.chmod(0o600)
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot write the log file %s: %s", log_file, exc)
        else:
            file.setFormatter(RedactingFormatter(FORMAT, tracebacks=True))
            file.addFilter(RedactingFilter())
            file.setLevel(logging.DEBUG if debug else logging.INFO)
            handlers.append(file)
    root = logging.getLogger()
    for old in root.handlers:
        if old not in handlers:
            old.close()
    root.handlers[:] = handlers
    root.setLevel(logging.DEBUG if debug else level)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached": a wake-up during a long tick,
    # which the worker folds into the tick in hand on purpose
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    limiter = logging.getLogger(RATE_LIMITER_LOGGER)
    if not any(isinstance(f, RateLimitNotice) for f in limiter.filters):
        limiter.addFilter(RateLimitNotice())
