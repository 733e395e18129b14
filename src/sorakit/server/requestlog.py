"""The request log: one row per request, collected in memory and written in batches.

The middleware only appends to a list, so the hottest route pays microseconds for it; a
background task hands the rows to the ledger every second, which writes them in one statement
off the event loop (a worker thread on SQLite), so a batch does not stall the requests being
served. The list is bounded: past `CAPACITY` waiting rows (a database that stays locked) new rows
are counted as dropped and the count is logged at the next flush, never lost silently. Routes
say what the row should carry (model, video, cost) through `request.state`; the key comes from
authentication.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sorakit.ledger import Ledger
from sorakit.ledger.requests import RequestRecord

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
CAPACITY = 200_000
"""Rows that may wait for the database: about a minute of the gateway's peak rate."""
_UNLOGGED = ("/healthz", "/openapi.json", "/docs", "/static/")  # /static/: the studio's files


class RequestLog:
    """Rows waiting to be written, and the task that writes them."""

    def __init__(
        self, ledger: Ledger, *, capacity: int = CAPACITY, flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self.ledger = ledger
        self.capacity = capacity
        self.flush_seconds = flush_seconds
        self.dropped = 0
        """Rows refused because `capacity` rows were already waiting (since the start)."""
        self._unreported = 0
        self._pending: list[RequestRecord] = []
        self._writing = asyncio.Lock()  # one batch at a time, so rows land in order
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Rows not yet handed to the ledger."""
        return len(self._pending)

    def add(self, record: RequestRecord) -> None:
        if len(self._pending) >= self.capacity:
            self.dropped += 1
            self._unreported += 1
            return
        self._pending.append(record)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.flush_seconds)
            await self.flush()

    async def flush(self) -> None:
        """Write every waiting row now (a failed batch goes back to wait, within `capacity`)."""
        async with self._writing:
            rows, self._pending = self._pending, []
            if self._unreported:
                logger.warning(
                    "the request log was full: %d rows dropped (%d since the start)",
                    self._unreported,
                    self.dropped,
                )
                self._unreported = 0
            try:
                await self.ledger.log_requests(rows)
            except Exception:  # the log must never take the gateway down
                logger.warning("could not write %d request-log rows", len(rows), exc_info=True)
                self._requeue(rows)

    def _requeue(self, rows: list[RequestRecord]) -> None:
        """Put a failed batch back in front of the rows that came meanwhile, within `capacity`."""
        kept = (rows + self._pending)[: self.capacity]
        lost = len(rows) + len(self._pending) - len(kept)
        self.dropped += lost
        self._unreported += lost
        self._pending = kept

    async def aclose(self) -> None:
        """Stop the writer after a last flush of everything logged so far."""
        self._closing.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


class RequestLogMiddleware:
    """Times each request and hands its row to the app's `RequestLog`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_UNLOGGED):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self._record(scope, status, (time.perf_counter() - started) * 1000)

    @staticmethod
    def _record(scope: Scope, status: int, latency_ms: float) -> None:
        log: RequestLog | None = getattr(scope["app"].state, "request_log", None)
        if log is None:
            return
        state: dict[str, Any] = scope.get("state") or {}
        route = scope.get("route")
        log.add(
            RequestRecord(
                at=time.time(),
                key_id=state.get("key_id"),
                method=scope["method"],
                route=getattr(route, "path", None) or "(unmatched)",
                model=state.get("log_model"),
                video_id=state.get("log_video"),
                status=status,
                latency_ms=round(latency_ms, 3),
                cost=state.get("log_cost"),
            )
        )
