"""Logging set-up for the CLI and the server; the library itself never installs handlers.

Every handler installed here redacts secrets (API keys, bearer tokens, signed URL tokens) from
the formatted line, whatever logger produced it: a key pasted into an error message or a URL
with a token in its query never reaches a log file whole.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

_SECRETS = re.compile(
    r"(?P<prefix>"
    r"sk-sorakit-[0-9a-f]{12}-|"  # our gateway keys: the public prefix stays, for support
    r"\bsk-|"  # OpenAI-style keys
    r"\bwhsec_|"  # webhook secrets
    r"(?i:bearer|key)\s+|"  # Authorization headers
    # Query parameters, also percent-encoded: a callback URL with its token travels inside
    # another URL's query (fal's `fal_webhook=`), and httpx logs that URL as sent.
    r"(?i:token|api_key|key|secret|signature|sig|_jwt)(?:=|%3[dD]|%253[dD])|"
    r"\bAIza"  # Google API keys
    r")"
    r"[A-Za-z0-9._~+/:%-]{8,}"
)


_KNOWN: set[str] = set()
"""Secrets with no recognisable shape (a pooled fal key, a proxy's password), by value."""
MIN_KNOWN_CHARS = 6


def remember_secret(value: str | None) -> None:
    """Redact this exact value from every line from now on (pooled credentials register here)."""
    if value and len(value) >= MIN_KNOWN_CHARS:
        _KNOWN.add(value)


_USERINFO = re.compile(r"(://[^/@\s:]*:)[^/@\s]+@")
"""The password in `scheme://user:password@host` (a proxy URL)."""


def redact(text: str) -> str:
    """The text with anything that looks like a secret replaced by its prefix and `[redacted]`."""
    for secret in _KNOWN:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    text = _USERINFO.sub(r"\1[redacted]@", text)
    return _SECRETS.sub(lambda m: f"{m.group('prefix')}[redacted]", text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose output never carries a secret."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def default_log_config(verbose: int = 0) -> dict[str, Any]:
    """A dictConfig: warnings by default, info with -v, debug with -vv, on stderr."""
    level = ("WARNING", "INFO", "DEBUG")[min(verbose, 2)]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {
                "()": RedactingFormatter,
                "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "sorakit": {"level": level, "handlers": ["stderr"], "propagate": False},
            "httpx": {"level": "WARNING"},
        },
    }


def configure_logging(verbose: int = 0) -> None:
    """Apply `default_log_config`."""
    logging.config.dictConfig(default_log_config(verbose))
