"""A faithful fake of Runway's task API (providers.md §5), served through `httpx.MockTransport`.

It follows runwayml 5.24.0's contract: Bearer auth and the required `X-Runway-Version`, camelCase
bodies checked per model and endpoint against `runway_schemas_fake`'s `MODELS` (re-exported here)
(missing, extra and wrongly typed keys, values outside a `ratio` / `resolution` enum, a `last`
frame where only `first` exists, keyframes mixed with reference images, too many `references`
are a 400 with zod-style `issues`; `duration` must be a JSON number), tasks that go
THROTTLED -> PENDING -> RUNNING (with `progress`) -> SUCCEEDED on a clock the test moves, with
`createdAt`, `estimatedCost` and `cost` as the SDK requires, a content filter
(`SAFETY.INPUT.TEXT`), DELETE that cancels or deletes, and signed output URLs on a CDN host
that 404 once they expire. Outputs are real MP4s rendered by the simulator.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from sorakit.providers.simulator.render import Segment, render
from tests.providers.runway_schemas_fake import MODELS, FakeModel, Schema

API_HOST = "api.runway.test"
BASE_URL = f"https://{API_HOST}"
CDN_HOST = "cdn.runway.test"
VERSION = "2024-11-06"


_ENDPOINTS = ("text_to_video", "image_to_video", "video_to_video")


@dataclass
class Recorded:
    """One request the fake saw."""

    method: str
    host: str
    path: str
    headers: httpx.Headers
    body: Any = None


@dataclass
class FakeTask:
    """A task the fake holds."""

    id: str
    endpoint: str
    model: str
    body: dict[str, Any]
    created_at: float
    throttled_seconds: float
    queue_seconds: float
    render_seconds: float
    credits: int
    fail_with: tuple[str, str] | None = None
    cancelled: bool = False
    first_frame: Image.Image | None = None


@dataclass
class Grant:
    """A signed output URL: which task it serves and until when (fake clock)."""

    task_id: str
    expires_at: float


class ValidationError(Exception):
    """A body the real API refuses with 400 and zod-style issues."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__(issues[0]["message"])
        self.issues = issues


def _issue(path: str, message: str, code: str = "custom", **extra: Any) -> dict[str, Any]:
    return {"code": code, "path": [path], "message": message, **extra}


@dataclass
class FakeRunwayAPI:
    """Runway's API in memory; `transport()` is what the SDK (and the downloader) sends through."""

    workdir: Path
    api_secret: str = "key_test_runway_secret"
    queue_seconds: float = 2.0
    render_seconds: float = 10.0
    throttled_seconds: float = 0.0
    url_ttl: float = 60.0
    chunk_size: int = 16_384
    blocked_word: str = "forbidden"
    now: float = 1_763_892_000.0
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    renders: int = 0
    _grants: dict[str, Grant] = field(default_factory=dict)
    _videos: dict[str, bytes] = field(default_factory=dict)
    _faults: list[Callable[[httpx.Request], httpx.Response]] = field(default_factory=list)
    _next_failure: tuple[str, str] | None = None
    expire_grants: int = 0
    speed: float = 0.0
    """When positive, the clock also runs by itself: `speed` fake seconds per real second."""
    _last_tick: float = field(default_factory=time.monotonic)
    """How many of the next signed URLs are handed out already expired."""

    # -- test controls -------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def fail_next(
        self, status: int, error: str = "injected", *, headers: dict[str, str] | None = None
    ) -> None:
        """The next request answers `status` with Runway's `{"error": ...}` body."""
        content = json.dumps({"error": error}).encode()
        all_headers = {"content-type": "application/json", **(headers or {})}
        self._faults.append(lambda _r: httpx.Response(status, headers=all_headers, content=content))

    def raise_next(self, exc: Exception) -> None:
        """The next request fails on the wire with `exc` (a timeout, a reset)."""

        def fault(_request: httpx.Request) -> httpx.Response:
            raise exc

        self._faults.append(fault)

    def fail_next_task(self, code: str, failure: str) -> None:
        """The next task created ends FAILED with this `failureCode` and `failure` text."""
        self._next_failure = (code, failure)

    def calls(self, method: str, path_prefix: str = "", host: str = API_HOST) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.method == method and r.host == host and r.path.startswith(path_prefix)
        ]

    # -- the server ----------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.speed > 0:
            tick = time.monotonic()
            self.now += (tick - self._last_tick) * self.speed
            self._last_tick = tick
        body_bytes = await request.aread()
        body = json.loads(body_bytes) if body_bytes else None
        self.requests.append(
            Recorded(request.method, request.url.host, request.url.path, request.headers, body)
        )
        if self._faults:
            return self._faults.pop(0)(request)
        if request.url.host == CDN_HOST:
            return self._cdn(request)
        if request.url.host != API_HOST:
            return httpx.Response(502, text="unknown host")
        if request.headers.get("authorization") != f"Bearer {self.api_secret}":
            return _error(401, "Invalid API secret. Check your API secret and try again.")
        if request.headers.get("x-runway-version") != VERSION:
            return _error(400, f"Invalid X-Runway-Version header; expected {VERSION}")
        path = request.url.path
        if request.method == "POST" and path.startswith("/v1/") and path[4:] in _ENDPOINTS:
            if not isinstance(body, dict):
                return _error(400, "Request body must be a JSON object")
            try:
                task = self._create(path[4:], body)
            except ValidationError as exc:
                return httpx.Response(
                    400, json={"error": "Validation of body failed", "issues": exc.issues}
                )
            return httpx.Response(200, json={"id": task.id})
        if path.startswith("/v1/tasks/") and request.method in ("GET", "DELETE"):
            return self._task_route(request.method, path.removeprefix("/v1/tasks/"))
        return _error(404, f"No route for {request.method} {path}")

    def _task_route(self, method: str, task_id: str) -> httpx.Response:
        found = self.tasks.get(task_id)
        if found is None:
            return _error(404, "Task not found")
        if method == "GET":
            return httpx.Response(200, json=self._task_json(found))
        if self._status(found) in ("SUCCEEDED", "FAILED", "CANCELLED"):
            del self.tasks[found.id]  # DELETE of a finished task deletes it
        else:
            found.cancelled = True  # DELETE of a live task cancels it
        return httpx.Response(204)

    # -- creates -------------------------------------------------------------------------

    def _create(self, endpoint: str, body: dict[str, Any]) -> FakeTask:
        model_name = body.get("model")
        spec = MODELS.get(model_name) if isinstance(model_name, str) else None
        if spec is None or endpoint not in spec.endpoints:
            raise ValidationError([_issue("model", f"Invalid model {model_name!r} for {endpoint}")])
        schema = spec.endpoints[endpoint]
        allowed = schema.required | schema.optional
        issues = [
            _issue(k, "Required", "invalid_type") for k in sorted(schema.required - body.keys())
        ]
        issues += [
            _issue(k, f"Unrecognized key: {k!r}", "unrecognized_keys")
            for k in sorted(body.keys() - allowed)
        ]
        issues += _check_values(spec, schema, body)
        if issues:
            raise ValidationError(issues)
        prompt = body.get("promptText", "")
        fail = self._next_failure
        self._next_failure = None
        if fail is None and self.blocked_word and self.blocked_word in prompt.lower():
            fail = ("SAFETY.INPUT.TEXT", "The prompt was flagged by content moderation.")
        duration = body.get("duration", spec.durations[0])
        seconds = spec.durations[-1] if duration == "auto" else duration
        task = FakeTask(
            id=str(uuid.uuid4()),
            endpoint=endpoint,
            model=spec_name(spec),
            body=body,
            created_at=self.now,
            throttled_seconds=self.throttled_seconds,
            queue_seconds=self.queue_seconds,
            render_seconds=self.render_seconds,
            credits=spec.credits_per_second * seconds,
            fail_with=fail,
            first_frame=_first_frame(body.get("promptImage")),
        )
        self.tasks[task.id] = task
        return task

    # -- tasks ---------------------------------------------------------------------------

    def _status(self, task: FakeTask) -> str:
        if task.cancelled:
            return "CANCELLED"
        elapsed = self.now - task.created_at
        if elapsed < task.throttled_seconds:
            return "THROTTLED"
        if elapsed < task.throttled_seconds + task.queue_seconds:
            return "PENDING"
        if elapsed < task.throttled_seconds + task.queue_seconds + task.render_seconds:
            return "RUNNING"
        return "FAILED" if task.fail_with else "SUCCEEDED"

    def _task_json(self, task: FakeTask) -> dict[str, Any]:
        status = self._status(task)
        created = datetime.fromtimestamp(task.created_at, UTC).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {
            "id": task.id,
            "status": status,
            "createdAt": created.replace("+00:00", "Z"),
        }
        if status in ("THROTTLED", "PENDING", "RUNNING"):
            out["estimatedCost"] = {"credits": task.credits}
        if status == "RUNNING":
            ran = self.now - task.created_at - task.throttled_seconds - task.queue_seconds
            out["progress"] = round(min(ran / task.render_seconds, 0.99), 4)
        if status == "SUCCEEDED":
            out["cost"] = {"credits": task.credits}
            out["output"] = [self._grant(task)]
        if status == "FAILED":
            assert task.fail_with is not None
            out["cost"] = {"credits": 0}
            out["failureCode"], out["failure"] = task.fail_with
        if status == "CANCELLED":
            out["cost"] = {"credits": 0}
        return out

    def _grant(self, task: FakeTask) -> str:
        token = secrets.token_urlsafe(12)
        ttl = self.url_ttl
        if self.expire_grants > 0:
            self.expire_grants, ttl = self.expire_grants - 1, 0.0
        self._grants[token] = Grant(task.id, self.now + ttl)
        return f"https://{CDN_HOST}/out/{task.id}.mp4?_jwt={token}"

    # -- the CDN -------------------------------------------------------------------------

    def _cdn(self, request: httpx.Request) -> httpx.Response:
        grant = self._grants.get(request.url.params.get("_jwt", ""))
        if request.method != "GET" or grant is None or grant.expires_at <= self.now:
            return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")
        task = self.tasks.get(grant.task_id)
        if task is None or request.url.path != f"/out/{task.id}.mp4":
            return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")
        data = self.video(task.id)
        return httpx.Response(
            200,
            headers={"content-type": "video/mp4", "content-length": str(len(data))},
            stream=_Chunked(data, self.chunk_size),
        )

    def video(self, task_id: str) -> bytes:
        """The task's MP4, rendered by the simulator on first use."""
        if task_id not in self._videos:
            task = self.tasks[task_id]
            width, height = _dimensions(task)
            seconds = task.body.get("duration", 5)
            seconds = 4 if seconds == "auto" else seconds
            folder = self.workdir / task_id
            folder.mkdir(parents=True, exist_ok=True)
            segment = Segment(
                prompt=task.body.get("promptText", ""),
                seconds=seconds,
                seed=1,
                first_frame=task.first_frame,
                label=f"runway · {task.model}",
            )
            render(
                [segment],
                width,
                height,
                folder / "video.mp4",
                folder / "thumbnail.webp",
                folder / "sprites.jpg",
            )
            self.renders += 1
            self._videos[task_id] = (folder / "video.mp4").read_bytes()
        return self._videos[task_id]


class _Chunked(httpx.AsyncByteStream):
    def __init__(self, data: bytes, size: int) -> None:
        self._data, self._size = data, size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), self._size):
            yield self._data[start : start + self._size]


def spec_name(spec: FakeModel) -> str:
    return next(name for name, value in MODELS.items() if value is spec)


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message})


def _check_values(spec: FakeModel, schema: Schema, body: dict[str, Any]) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    for key in ("promptText", "videoUri"):
        if key in body and (not isinstance(body[key], str) or not body[key]):
            issues.append(_issue(key, "Expected a non-empty string", "invalid_type"))
    for key, allowed in (("ratio", schema.ratios), ("resolution", schema.resolutions)):
        if key in body and body[key] not in allowed:
            issues.append(_issue(key, f"Invalid enum value {body[key]!r}", "invalid_enum_value"))
    if "duration" in body:
        issues += _check_duration(body["duration"], spec)
    if "audio" in body and not isinstance(body["audio"], bool):
        issues.append(_issue("audio", "Expected boolean", "invalid_type"))
    if "mode" in body and body["mode"] not in ("reference", "extend", "edit"):
        issues.append(_issue("mode", "Invalid enum value", "invalid_enum_value"))
    if "promptImage" in body:
        issues += _check_prompt_image(body["promptImage"], schema, body.get("ratio"))
    if "references" in body:
        issues += _check_references(body, spec, schema)
    elif body.get("ratio") == "adaptive":
        issues.append(_issue("ratio", "adaptive needs image or video references"))
    if "videoUri" in body and isinstance(body["videoUri"], str):
        uri = body["videoUri"]
        if not uri.startswith(("https://", "data:video/", "runway://")):
            issues.append(_issue("videoUri", "Invalid video URI"))
    return issues


def _check_duration(duration: Any, spec: FakeModel) -> list[dict[str, Any]]:
    if duration == "auto" and spec.auto_duration:
        return []
    if isinstance(duration, bool) or not isinstance(duration, int):
        received = type(duration).__name__.replace("str", "string")
        message = f"Expected number, received {received}"
        return [_issue("duration", message, "invalid_type", expected="number", received=received)]
    if duration not in spec.durations:
        return [_issue("duration", f"Invalid duration {duration}", "invalid_literal")]
    return []


def _check_references(
    body: dict[str, Any], spec: FakeModel, schema: Schema
) -> list[dict[str, Any]]:
    references = body["references"]
    if not isinstance(references, list) or not references:
        return [_issue("references", "Expected a non-empty array", "invalid_type")]
    issues: list[dict[str, Any]] = []
    images = len(references)
    if schema.frames_count and isinstance(body.get("promptImage"), list):
        images += len(body["promptImage"])
    if schema.max_references is not None and images > schema.max_references:
        issues.append(_issue("references", f"At most {schema.max_references} references"))
    for item in references:
        if not isinstance(item, dict) or set(item) != {"uri"}:
            issues.append(_issue("references", "Each reference needs exactly uri"))
        elif not _image_uri(item["uri"]):
            issues.append(_issue("references", "Invalid image URI"))
    capped = spec.reference_resolutions
    if capped and body.get("resolution", capped[-1]) not in capped:
        issues.append(_issue("resolution", "Requests with image references are capped at 720p"))
    return issues


def _image_uri(uri: Any) -> bool:
    if not isinstance(uri, str) or not uri.startswith(("https://", "data:image/", "runway://")):
        return False
    return not (uri.startswith("data:") and len(uri) > 5 * 1024 * 1024)


def _check_prompt_image(value: Any, schema: Schema, ratio: Any) -> list[dict[str, Any]]:
    images = [{"uri": value, "position": "first"}] if isinstance(value, str) else value
    if not isinstance(images, list) or not images:
        return [_issue("promptImage", "Expected a URI or a list of images", "invalid_type")]
    issues: list[dict[str, Any]] = []
    positions = []
    for image in images:
        keys = set(image) if isinstance(image, dict) else set()
        if keys != {"uri", "position"} and not (schema.reference_mode and keys == {"uri"}):
            issues.append(_issue("promptImage", "Each image needs exactly uri and position"))
            continue
        positions.append(image.get("position"))
        if "position" in image and image["position"] not in schema.positions:
            issues.append(_issue("promptImage", f"Invalid position {image['position']!r}"))
        if not _image_uri(image["uri"]):
            issues.append(_issue("promptImage", "Invalid image URI or larger than 5 MB"))
    keyframes = [p for p in positions if p is not None]
    if keyframes and len(keyframes) != len(positions):
        issues.append(_issue("promptImage", "Keyframes and reference images cannot be mixed"))
    if len(set(keyframes)) != len(keyframes) or (keyframes and "first" not in keyframes):
        issues.append(_issue("promptImage", "One first frame, and at most one last frame"))
    if keyframes and schema.keyframe_ratios and ratio not in schema.keyframe_ratios:
        allowed = ", ".join(schema.keyframe_ratios)
        issues.append(_issue("ratio", f"Keyframe requests must use {allowed}"))
    return issues


def _dimensions(task: FakeTask) -> tuple[int, int]:
    """What the real model renders: the pixel ratio, else the first frame's size (resolution
    and auto_* framings follow it), else the model's size for an aspect and a tier."""
    ratio = str(task.body.get("ratio", ""))
    frame = MODELS[task.model].frames.get((ratio, str(task.body.get("resolution", "")).lower()))
    if frame is None and ratio.replace(":", "").isdigit():
        frame = ratio
    if frame is None and task.first_frame is not None:
        return task.first_frame.size
    width, height = (frame or "1280:720").split(":")
    return int(width), int(height)


def _first_frame(value: Any) -> Image.Image | None:
    """The first-frame image of a data URI, decoded (a broken one is a 400 upstream)."""
    if not isinstance(value, list):
        return None
    first = [i for i in value if isinstance(i, dict) and i.get("position") == "first"]
    uri = first[0].get("uri", "") if first else ""
    if not isinstance(uri, str) or not uri.startswith("data:image/"):
        return None
    raw = base64.b64decode(uri.split(",", 1)[1])
    return Image.open(io.BytesIO(raw)).convert("RGB")
