"""A fake of fal.ai's queue API (providers.md §4.1/§4.3), served through `httpx.MockTransport`.

It follows the contract fal-client 1.0.3 was captured against: `Authorization: Key …`, a submit
answer carrying `status_url`/`response_url`/`cancel_url` on the app's `{owner}/{alias}` (the
endpoint's sub-path dropped), `IN_QUEUE` with `queue_position`, `IN_PROGRESS`/`COMPLETED` with a
`logs` key, `COMPLETED` with `error`/`error_type` for a content-filter failure, pydantic-style 422
bodies for inputs outside a model's schema (the schemas live in `fal_schemas_fake`), expiring media
URLs, and faults on demand. The same fake answers fal's Platform API and sends fal's webhooks
through the mixins in `fal_platform_fake`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sorakit.providers.base import Provider, SubmitRequest
from sorakit.providers.fal import FalProvider
from sorakit.providers.simulator.render import Segment, render
from tests.providers.fal_images_fake import IMAGE_SCHEMAS, image_result, image_size_errors
from tests.providers.fal_platform_fake import PlatformApi, WebhookSender
from tests.providers.fal_schemas_fake import SCHEMAS, check, validation_error

QUEUE = "http://queue.fal.test/"
MEDIA = "http://media.fal.test/files/"
API = "http://api.fal.test/v1/"
"""fal's Platform API: `models/requests/by-endpoint` and `models/billing-events`."""
MODERATION_WORD = "forbidden"
NAMES = ("v.mp4", "t.webp", "s.jpg")


@dataclass
class FakeRequest:
    """A queued request the fake holds, on the fake's clock."""

    id: str
    endpoint: str
    arguments: dict[str, Any]
    created_at: float
    queue_seconds: float
    render_seconds: float
    cancelled: bool = False
    webhook: str | None = None
    """The `fal_webhook` URL the submit named, where fal POSTs once the request finishes."""
    delivered: bool = False
    moderation: str | None = None
    """`status` (COMPLETED carries the error) or `result` (only the result GET refuses)."""

    @property
    def app(self) -> str:
        return "/".join(self.endpoint.split("/")[:2])


@dataclass
class Fault:
    """A canned answer (or a raised exception) for the next calls of one kind."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raises: Exception | None = None
    after: bool = False
    """Handle the call, then raise `raises`: the answer is lost on the wire."""


class FakeFalQueue(PlatformApi, WebhookSender):
    """fal's queue and media hosts; the test moves `now`."""

    def __init__(
        self,
        video: bytes,
        *,
        key: str = "key-id:key-secret",
        queue_seconds: float = 5.0,
        render_seconds: float = 60.0,
        url_ttl: float = 3600.0,
        moderation: str = "status",
    ) -> None:
        super().__init__()
        self.video = video
        self.key = key
        self.now = 1_000_000.0
        self.speed = 0.0
        """Fake seconds per real second on top of `advance` (0: only `advance` moves time)."""
        self._started = time.monotonic()
        self.queue_seconds = queue_seconds
        self.render_seconds = render_seconds
        self.url_ttl = url_ttl
        self.moderation = moderation
        self.moderation_body: dict[str, Any] | None = None
        """A verbatim 422 body the result of a refused request answers instead of ours."""
        self.jobs: dict[str, FakeRequest] = {}
        self.seen: list[httpx.Request] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.logs = True
        self.images: dict[str, tuple[bytes, str]] = {}
        """The image each finished image request made, by request id (bytes, media type)."""

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def clock(self) -> float:
        return self.now + (time.monotonic() - self._started) * self.speed

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def fail(self, kind: str, fault: Fault, times: int = 1) -> None:
        """Answer the next `times` calls of `kind` (submit, status, result, cancel, media) so."""
        self.faults.setdefault(kind, deque()).extend([fault] * times)

    def calls(self, kind: str) -> list[httpx.Request]:
        return [r for r in self.seen if _kind(r) == kind]

    # -- routing ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        kind = _kind(request)
        queue = self.faults.get(kind)
        if queue:
            fault = queue.popleft()
            if fault.after and fault.raises is not None:
                self._route(kind, request)
                raise fault.raises
            if fault.raises is not None:
                raise fault.raises
            return _json(fault.status, fault.body, fault.headers)
        return self._route(kind, request)

    def _route(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "media":
            return self._media(request)
        if request.headers.get("authorization") != f"Key {self.key}":
            return _json(401, {"detail": "Invalid Key"})
        path = request.url.path.strip("/")
        if kind == "platform":
            return self._platform(path, request)
        if kind == "submit":
            return self._submit(path, request)
        parts = path.split("/")
        job = self.jobs.get(parts[3]) if len(parts) >= 4 else None
        if job is None or job.app != "/".join(parts[:2]):
            return _json(404, {"detail": f"Request {parts[3] if len(parts) > 3 else ''} not found"})
        if kind == "status":
            return self._status(job, request)
        if kind == "cancel":
            return self._cancel(job)
        return self._result(job)

    def _submit(self, endpoint: str, request: httpx.Request) -> httpx.Response:
        schema = SCHEMAS.get(endpoint) or IMAGE_SCHEMAS.get(endpoint)
        if schema is None:
            return _json(404, {"detail": f"Application '{endpoint}' not found"})
        try:
            arguments = json.loads(request.content)
        except ValueError:
            return _json(422, {"detail": [validation_error("", "invalid JSON", "json_invalid")]})
        errors = check(arguments, schema)
        if endpoint in IMAGE_SCHEMAS and isinstance(arguments, dict):
            errors += image_size_errors(arguments)
        if errors:
            return _json(422, {"detail": errors})
        rid = str(uuid.uuid4())
        job = FakeRequest(
            rid, endpoint, arguments, self.clock(), self.queue_seconds, self.render_seconds
        )
        # FLUX's safety checker does not fail the request: it flags (and blacks out) the image.
        if MODERATION_WORD in arguments["prompt"] and not endpoint.startswith("fal-ai/flux/"):
            job.moderation = self.moderation
        job.webhook = request.url.params.get("fal_webhook")
        self.jobs[rid] = job
        if job.webhook is not None:
            self._start_sender()
        return _json(200, {**self._urls(job), "status": "IN_QUEUE", "queue_position": 0})

    def _urls(self, job: FakeRequest) -> dict[str, str]:
        base = f"{QUEUE}{job.app}/requests/{job.id}"
        return {
            "request_id": job.id,
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": base + "/cancel",
        }

    def state(self, job: FakeRequest) -> str:
        elapsed = self.clock() - job.created_at
        if job.cancelled or elapsed >= job.queue_seconds + job.render_seconds:
            return "COMPLETED"
        return "IN_QUEUE" if elapsed < job.queue_seconds else "IN_PROGRESS"

    def _status(self, job: FakeRequest, request: httpx.Request) -> httpx.Response:
        state = self.state(job)
        with_logs = request.url.params.get("logs") in ("true", "True", "1")
        body: dict[str, Any] = {**self._urls(job), "status": state, "logs": None}
        if state == "IN_QUEUE":
            body["queue_position"] = 1
        elif state == "IN_PROGRESS" and with_logs:
            share = (self.clock() - job.created_at - job.queue_seconds) / job.render_seconds
            step = int(share * 50)
            entry = {"message": f"step {step}/50", "level": "INFO", "source": "user"}
            body["logs"] = [entry] if self.logs else []
        elif state == "COMPLETED":
            body["logs"] = [] if with_logs else None
            body["metrics"] = {"inference_time": job.render_seconds}
            if job.cancelled:
                body["error"] = "Request was cancelled"
                body["error_type"] = "request_cancelled"
            elif job.moderation == "status":
                body["error"] = "The prompt was flagged by the content checker"
                body["error_type"] = "content_policy_violation"
        return _json(200, body)

    def _result(self, job: FakeRequest) -> httpx.Response:
        if self.state(job) != "COMPLETED":
            return _json(400, {"detail": "Request is still in progress"})
        if job.moderation is not None and self.moderation_body is not None:
            return _json(422, self.moderation_body)
        if job.moderation is not None:
            detail = validation_error(
                "prompt", "The content could not be processed", "content_policy_violation"
            )
            return _json(
                422, {"detail": [detail]}, {"x-fal-error-type": "content_policy_violation"}
            )
        if job.cancelled:
            return _json(400, {"detail": "Request was cancelled"})
        done = job.created_at + job.queue_seconds + job.render_seconds
        if job.endpoint in IMAGE_SCHEMAS:
            flagged = MODERATION_WORD in job.arguments["prompt"]
            body, data, media_type = image_result(
                job.endpoint, job.arguments, f"{MEDIA}{job.id}/output", flagged=flagged
            )
            self.images[job.id] = (data, media_type)
            expiry = f"?expires={done + self.url_ttl:.0f}"
            body["images"][0]["url"] += expiry
            return _json(200, body)
        url = f"{MEDIA}{job.id}/output.mp4?expires={done + self.url_ttl:.0f}"
        video = {
            "url": url,
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": len(self.video),
        }
        return _json(200, {"video": video, "seed": 42})

    def _cancel(self, job: FakeRequest) -> httpx.Response:
        if self.state(job) == "COMPLETED":
            return _json(400, {"detail": "Request already completed"})
        job.cancelled = True
        return _json(202, {"status": "CANCELLATION_REQUESTED"})

    def _media(self, request: httpx.Request) -> httpx.Response:
        if "authorization" in request.headers:
            return _json(400, {"detail": "media URLs take no credential"})
        expires = float(request.url.params.get("expires", "0"))
        rid = request.url.path.split("/")[2]
        if rid not in self.jobs or self.clock() > expires:
            return httpx.Response(404, text="Not Found")
        if rid in self.images and not request.url.path.endswith(".mp4"):
            data, media_type = self.images[rid]
            headers = {"content-type": media_type, "content-length": str(len(data))}
            return httpx.Response(200, content=data, headers=headers)
        headers = {"content-type": "video/mp4", "content-length": str(len(self.video))}
        return httpx.Response(200, content=self.video, headers=headers)


def _kind(request: httpx.Request) -> str:
    if request.url.host == "media.fal.test":
        return "media"
    if request.url.host in ("api.fal.test", "api.fal.ai"):  # a provider left on the default
        return "platform"
    path = request.url.path.strip("/")
    if request.method == "POST":
        return "submit"
    if request.method == "PUT" and path.endswith("/cancel"):
        return "cancel"
    if path.endswith("/status"):
        return "status"
    return "result"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


# -- helpers for the tests ------------------------------------------------------------------


def rendered_mp4(directory: Path) -> bytes:
    """A one-second 64x36 MP4 rendered by the simulator."""
    render([Segment("a fal render", 1.0, seed=7)], 64, 36, *(directory / n for n in NAMES), fps=12)
    return (directory / NAMES[0]).read_bytes()


def generate(model: str = "kling-video/v3/pro", **overrides: object) -> SubmitRequest:
    fields: dict[str, object] = {
        "kind": "generate",
        "model": model,
        "prompt": "a calico cat playing a piano",
        "seconds": 5,
        "size": "1920x1080",
        "idempotency_key": "key-1",
    }
    fields.update(overrides)
    return SubmitRequest(**fields)  # type: ignore[arg-type]


def sent(fake: FakeFalQueue) -> tuple[str, dict[str, object]]:
    request = fake.calls("submit")[-1]
    return request.url.path.strip("/"), json.loads(request.content)


async def body_of(provider: Provider, remote_id: str) -> bytes:
    async with provider.download(remote_id) as stream:
        assert stream.media_type == "video/mp4"
        return b"".join([chunk async for chunk in stream.chunks])


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A loopback server that reads a request and never answers; yields its base URL."""
    release, finished = asyncio.Event(), asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await release.wait()
        writer.close()
        await writer.wait_closed()
        finished.set()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finally:
        release.set()
        await asyncio.wait_for(finished.wait(), 5)
        server.close()
        await server.wait_closed()


def make(fake: FakeFalQueue, key: str | None = None) -> FalProvider:
    """A provider that talks to `fake` on its clock."""
    return FalProvider(
        key=key or fake.key,
        queue_url=QUEUE,
        api_url=API,
        transport=fake.transport(),
        clock=fake.clock,
    )


class QuickFal(FalProvider):
    """The provider with a sub-second expected render, so the engine polls quickly."""

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        return 0.3
