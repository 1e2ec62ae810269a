"""One logging set-up: a prefix per account and a filter that removes every secret from every record.

The redaction runs on the handlers, so it covers records from any library (urllib3, SDKs) and
the text of exceptions and stack traces, not only our own messages. Secrets are registered at
start-up from the account registry and again whenever credentials are created at run time
(paper-mode demo keys).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

REDACTED = "***"
_MIN_SECRET_LENGTH = 6  # shorter strings would blank out ordinary words and numbers

_current_account: contextvars.ContextVar[str] = contextvars.ContextVar("nija_account", default="nija")


class SecretRedactor:
    """Holds the secrets to remove; thread-safe, shared by every handler's filter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            known = set(self._secrets)
            for value in values:
                if not value or len(value) < _MIN_SECRET_LENGTH:
                    continue
                known.add(value)
                # A PEM key also travels as one line with literal "\n" and line by line.
                if "\n" in value:
                    known.add(value.replace("\n", "\\n"))
                    known.update(line for line in value.splitlines() if len(line) >= 16 and "-----" not in line)
            # Longest first, so a secret that contains another is removed whole.
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


redactor = SecretRedactor()


class RedactionFilter(logging.Filter):
    """Rewrites each record's message, exception text and stack text with secrets removed."""

    def __init__(self, secrets: SecretRedactor) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.secrets.redact(record.getMessage())
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.secrets.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.secrets.redact(record.stack_info)
        if not hasattr(record, "account"):
            record.account = _current_account.get()
        return True


class AccountLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger whose records carry one account's label as their prefix."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("account", self.extra["account"] if self.extra else "nija")
        kwargs["extra"] = extra
        return msg, kwargs


def account_logger(label: str, name: str = "nija") -> AccountLogger:
    """Logger for one account: records print as `... kraken:master ...`."""
    return AccountLogger(logging.getLogger(name), {"account": label})


@contextlib.contextmanager
def account_context(label: str) -> Iterator[None]:
    """Within this block (one thread or task), records without an account get this label."""
    token = _current_account.set(label)
    try:
        yield
    finally:
        _current_account.reset(token)


LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(account)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # dates too: a log read the next morning (or a file) must say which day


def _nija_handler(handler: logging.Handler) -> logging.Handler:
    handler._nija = True  # type: ignore[attr-defined]
    handler.addFilter(RedactionFilter(redactor))
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=DATE_FORMAT))
    return handler


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), stream: TextIO | None = None) -> logging.Handler:
    """Install one console handler on the root logger, with redaction; returns the handler."""
    redactor.add(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_nija", False):
            root.removeHandler(handler)
    handler = _nija_handler(logging.StreamHandler(stream or sys.stderr))
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays at warning level unless we debug.
    for noisy in ("urllib3", "requests", "alpaca", "coinbase", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
    return handler


def add_log_file(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """Also write every record (redacted, like the console) to a rotating file; returns the handler.

    The file is created owner-only (0600): it names accounts and balances. OSError when it cannot be opened.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    handler = _nija_handler(
        logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    )
    logging.getLogger().addHandler(handler)
    return handler


def route_library_logger(name: str) -> None:
    """Send a library logger's records through our handlers only (so through redaction).

    coinbase-advanced-py attaches its own stderr handler at import time, which would print
    response bodies past the redaction filter.
    """
    library_logger = logging.getLogger(name)
    for handler in list(library_logger.handlers):
        library_logger.removeHandler(handler)
    library_logger.propagate = True


def register_secrets(values: Iterable[str]) -> None:
    """Add secrets created at run time (paper-mode demo credentials) to the redaction set."""
    redactor.add(values)
