"""The request log: one row per request, collected in memory and written in batches.

The middleware only appends to a list, so the hottest route pays microseconds for it; a
background task writes the rows every second in one statement. Routes say what the row should
carry (model, video, cost) through `request.state`; the key comes from authentication.
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
_UNLOGGED = ("/healthz", "/openapi.json", "/docs", "/static/")  # /static/: the studio's files


class RequestLog:
    """Rows waiting to be written, and the task that writes them."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._pending: list[RequestRecord] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, record: RequestRecord) -> None:
        self._pending.append(record)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        rows, self._pending = self._pending, []
        try:
            await self.ledger.log_requests(rows)
        except Exception:  # the log must never take the gateway down
            logger.warning("could not write %d request-log rows", len(rows), exc_info=True)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
