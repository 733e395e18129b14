"""The one place where errors become a line on stderr and an exit code."""

from __future__ import annotations

from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    ProviderError,
    SorakitError,
)

EXIT_CODES: list[tuple[type[SorakitError], int]] = [
    (InvalidRequestError, 2),
    (InvalidStateError, 2),
    (NotFoundError, 3),
    (JobFailedError, 4),
    (JobTimeoutError, 5),
    (ProviderError, 6),
    (ConfigurationError, 7),
]
"""Exit codes by error class; anything else in the tree exits 1."""

INTERRUPTED = 130


def exit_code(exc: SorakitError) -> int:
    """The exit code for an error."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def one_line(exc: SorakitError) -> str:
    """The message a user sees, on one line."""
    text = " ".join(str(exc).split())
    allowed = getattr(exc, "allowed", None)
    if allowed and "allow" not in text:
        text += f" (allowed: {', '.join(allowed)})"
    return f"sorakit: {text}"
