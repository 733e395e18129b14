"""What an id must look like before it names a file or is looked up in a table.

An id from a caller is checked first: one too long for a file name ("File name too long"), or
holding a NUL (which Postgres refuses in any text), would otherwise fail deep down as a 500.
"""

from __future__ import annotations

import re

SAFE_ID_MAX_LENGTH = 128
LOOKUP_ID_MAX_LENGTH = 256
_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def is_safe_id(value: object, max_length: int = SAFE_ID_MAX_LENGTH) -> bool:
    """Letters, digits, `_` and `-`, at most `max_length` of them: fit to be a file's name."""
    return (
        isinstance(value, str) and len(value) <= max_length and _SAFE.fullmatch(value) is not None
    )


def is_lookup_id(value: object) -> bool:
    """1 to 256 printable characters: fit to look up (a provider's id may hold `/` or `.`)."""
    return isinstance(value, str) and 0 < len(value) <= LOOKUP_ID_MAX_LENGTH and value.isprintable()
