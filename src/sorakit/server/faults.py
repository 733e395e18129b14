"""Wire faults for `sorakit serve` on the simulator: what flaky real APIs do, on demand.

With `SORAKIT_SIMULATOR_FAULTS` set, this ASGI middleware answers a share of `/v1/videos`
requests with a 429 (with Retry-After), a 500 or 503, a dropped connection, a create whose answer
is lost after the job was made, or a truncated download, so a client can be tested against them.
Job-level faults (`moderation`) happen in the simulator itself.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sorakit.providers.simulator.faults import Fault, FaultInjector, Operation

logger = logging.getLogger(__name__)


class InjectedDisconnect(Exception):
    """Raised mid-response so the server drops the connection (a simulated network fault)."""


def operation_of(method: str, path: str) -> Operation | None:
    """The fault operation a request counts as (None: not a Videos API call)."""
    if not path.startswith("/v1/videos"):
        return None
    if method == "POST" and not path.startswith("/v1/videos/characters"):
        return "create"
    if method == "GET" and path.endswith("/content"):
        return "download"
    if method == "GET" and path.count("/") == 3:
        return "retrieve"
    return "other"


def _error(
    status: int, message: str, code: str, headers: list[tuple[bytes, bytes]]
) -> tuple[Message, Message]:
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "server_error" if status >= 500 else "rate_limit_error",
                "param": None,
                "code": code,
            }
        }
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


class FaultMiddleware:
    """Injects the simulator's wire faults into HTTP answers."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, *, retry_after: float = 1.0) -> None:
        self.app = app
        self.injector = injector
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        operation = operation_of(scope["method"], scope["path"])
        fault = None if operation is None else self.injector.pick(operation)
        if fault is None:
            await self.app(scope, receive, send)
            return
        logger.info("injecting %s into %s %s", fault.name, scope["method"], scope["path"])
        if fault is Fault.RATE_LIMIT:
            retry = str(max(1, round(self.retry_after)))
            for message in _error(
                429,
                "Rate limit reached for requests (simulated).",
                "rate_limit_exceeded",
                [(b"retry-after", retry.encode())],
            ):
                await send(message)
        elif fault is Fault.SERVER_ERROR:
            status = self.injector.status_code()
            for message in _error(
                status,
                "The server had an error while processing your request (simulated).",
                "server_error",
                [],
            ):
                await send(message)
        elif fault is Fault.RESET:
            await _drop(send, "connection reset (simulated)")
        elif fault is Fault.LOST_CREATE:
            await self.app(scope, receive, _swallow)
            await _drop(send, "the create's answer was lost (simulated)")
        elif fault is Fault.TRUNCATE:
            silent = not self.injector.keeps_length()
            await self.app(scope, receive, _Truncator(send, silent=silent))
        else:
            await self.app(scope, receive, send)


async def _swallow(_message: Message) -> None:
    return None


async def _drop(send: Send, reason: str) -> None:
    """Start an answer and break off: the client sees the connection die mid-response."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"id": "vid', "more_body": True})
    raise InjectedDisconnect(reason)


class _Truncator:
    """Passes a response on but cuts its body in half: loudly (connection drops) or silently."""

    def __init__(self, send: Send, *, silent: bool) -> None:
        self.send = send
        self.silent = silent
        self.length: int | None = None
        self.sent = 0
        self.done = False

    async def __call__(self, message: Message) -> None:
        if self.done:
            return  # the short body already ended the response; drop the rest
        if message["type"] == "http.response.start":
            headers: list[Any] = list(message.get("headers", []))
            for name, value in headers:
                if name.lower() == b"content-length":
                    self.length = int(value)
            if self.silent:
                headers = [(n, v) for n, v in headers if n.lower() != b"content-length"]
            await self.send({**message, "headers": headers})
            return
        if message["type"] != "http.response.body":
            await self.send(message)
            return
        limit = (self.length or 0) // 2
        body: bytes = message.get("body", b"")
        room = max(limit - self.sent, 0)
        if room >= len(body) and message.get("more_body", False):
            self.sent += len(body)
            await self.send(message)
            return
        self.sent += min(room, len(body))
        if self.silent:
            await self.send({"type": "http.response.body", "body": body[:room], "more_body": False})
            self.done = True
            return
        await self.send({"type": "http.response.body", "body": body[:room], "more_body": True})
        raise InjectedDisconnect("download cut short (simulated)")
