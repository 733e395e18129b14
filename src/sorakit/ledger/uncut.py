"""Ledger reads that a departing client cannot cut in half.

A stream that follows a job (the chat facade's progress, the studio's live panels) reads the
ledger every fraction of a second. When its client goes away, the server cancels the stream
wherever it waits; landing inside a database call, the cancellation makes SQLAlchemy throw the
pooled connection away (and, with aiosqlite, log "Task was destroyed but it is pending" for the
close it could not finish). These reads take milliseconds, so they finish first, and the
cancellation is delivered at the stream's next pause.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def uncut(call: Awaitable[T]) -> T:
    """Await `call` to its end even if the caller is cancelled meanwhile."""
    with anyio.CancelScope(shield=True):
        result = await call
    return result
