"""A faithful fake of Runway's task API (providers.md §5), served through `httpx.MockTransport`.

It follows runwayml 5.24.0's contract: Bearer auth and the required `X-Runway-Version`, camelCase
bodies checked per model and endpoint against a schema transcribed from the SDK's request types
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

API_HOST = "api.runway.test"
BASE_URL = f"https://{API_HOST}"
CDN_HOST = "cdn.runway.test"
VERSION = "2024-11-06"

_GEN4 = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672")
_VEO = ("1280:720", "720:1280", "1080:1920", "1920:1080")
_OMNI: tuple[str, ...] = ("640:360", "360:640", "1280:720", "720:1280", "1920:1080", "1080:1920")
_OMNI += ("3840:2160", "2160:3840")
_SEEDANCE: tuple[str, ...] = (
    "992:432",
    "864:496",
    "752:560",
    "640:640",
    "560:752",
    "496:864",
    "1470:630",
)
_SEEDANCE += ("1280:720", "1112:834", "960:960", "834:1112", "720:1280", "2206:946")
_SEEDANCE += ("1920:1080", "1664:1248", "1440:1440", "1248:1664", "1080:1920", "3840:1646")
_SEEDANCE += ("3840:2160", "3840:2880", "3840:3840", "2880:3840", "2160:3840")
_HAPPYHORSE: tuple[str, ...] = (
    "1280:720",
    "720:1280",
    "960:960",
    "1108:832",
    "832:1108",
    "1920:1080",
)
_HAPPYHORSE += ("1080:1920", "1440:1440", "1662:1248", "1248:1662")
_KLING4: tuple[str, ...] = (
    "1280:720",
    "720:1280",
    "940:940",
    "1460:624",
    "1920:1080",
    "1080:1920",
    "1440:1440",
)
_KLING4 += ("2200:940",)
_AUTO = ("auto_480p", "auto_720p", "auto_1080p")
_WAN: tuple[str, ...] = (
    "832:480",
    "720:544",
    "624:624",
    "544:720",
    "480:832",
    "1280:720",
    "1104:832",
)
_WAN += ("960:960", "832:1104", "720:1280", "1920:1080", "1648:1248", "1440:1440")
_WAN += ("1248:1648", "1080:1920", *_AUTO)
_HAILUO_ASPECTS = ("adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
_GROK_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")
_GROK_LITE = {  # the lite model's pixel ratios, per tier in _GROK_ASPECTS' order
    "480p": ("848:480", "480:848", "480:480", "640:480", "480:640", "720:480", "480:720"),
    "720p": ("1280:720", "720:1280", "720:720", "960:720", "720:960", "1088:720", "720:1088"),
    "1080p": ("1904:1072", "1072:1904", "1424:1424", "1648:1232", "1232:1648", "1744:1152")
    + ("1152:1744",),
}
_GROK_FRAMES = {
    (aspect, tier): ratio
    for tier, ratios in _GROK_LITE.items()
    for aspect, ratio in zip(_GROK_ASPECTS, ratios, strict=True)
}
_HAILUO_FRAMES = {("16:9", "768p"): "1366:768", ("9:16", "768p"): "768:1366"}
_HAILUO_FRAMES |= {("1:1", "768p"): "768:768", ("16:9", "2k"): "2560:1440"}
_HAILUO_FRAMES |= {("9:16", "2k"): "1440:2560", ("1:1", "2k"): "1440:1440"}


@dataclass(frozen=True)
class Schema:
    """One model's body on one endpoint, as the SDK types it (wire names, camelCase)."""

    required: frozenset[str]
    optional: frozenset[str]
    ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    positions: tuple[str, ...] = ("first",)
    reference_mode: bool = False
    """`promptImage` may hold position-less reference images (never mixed with keyframes)."""
    keyframe_ratios: tuple[str, ...] = ()
    """The only ratios allowed with keyframes, where the model restricts them (Wan: auto_*)."""
    max_references: int | None = None
    """The `references` bound the SDK states (None: it states none)."""
    frames_count: bool = False
    """The bound counts the `promptImage` frames too (Kling 4: 10 images in total)."""


@dataclass(frozen=True)
class FakeModel:
    """What the fake accepts for one model."""

    endpoints: dict[str, Schema]
    durations: tuple[int, ...]
    auto_duration: bool = False
    credits_per_second: int = 10
    reference_resolutions: tuple[str, ...] = ()
    """Resolutions allowed with `references`, where the model caps them (Grok: up to 720p)."""
    frames: dict[tuple[str, str], str] = field(default_factory=dict)
    """(aspect, resolution) -> the pixel size rendered, for aspect-framed models."""


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


_T2V, _I2V = _keys("model", "promptText"), _keys("model", "promptImage")
_KF = ("first", "last")
_GEN45_OPTIONS = _keys("contentModeration", "outputFormat", "proresProfile", "seed")
_VEO_OPTIONS = _keys("audio", "duration", "negativePrompt", "seed")
_KLING_OPTIONS = _keys("audio", "cfgScale", "duration", "promptText", "providerSettings")
_REF_MEDIA = _keys("referenceAudio", "references", "referenceVideos")
_RES = ("720p", "1080p", "720P", "1080P")
_GROK_RES = ("480p", "720p", "1080p")


def _veo(credits: int) -> FakeModel:
    return FakeModel(
        {
            "text_to_video": Schema(_T2V | {"ratio"}, _VEO_OPTIONS, _VEO),
            "image_to_video": Schema(
                _I2V | {"ratio"}, _VEO_OPTIONS | {"promptText"}, _VEO, positions=_KF
            ),
        },
        (4, 6, 8),
        credits_per_second=credits,
    )


def _kling(ratios: tuple[str, ...]) -> FakeModel:
    return FakeModel(
        {
            "text_to_video": Schema(_keys("model", "ratio"), _KLING_OPTIONS, ratios),
            "image_to_video": Schema(_I2V, _KLING_OPTIONS | {"ratio"}, ratios, positions=_KF),
        },
        tuple(range(3, 16)),
    )


def _wan() -> FakeModel:
    i2v_options = _keys("audio", "duration", "ratio", "referenceAudio", "referenceVideos")
    return FakeModel(
        {
            "text_to_video": Schema(
                _T2V, _REF_MEDIA | {"audio", "duration", "ratio"}, _WAN, max_references=10
            ),
            "image_to_video": Schema(
                _I2V | {"promptText"},
                i2v_options,
                _WAN,
                positions=_KF,
                reference_mode=True,
                keyframe_ratios=_AUTO,
            ),
        },
        tuple(range(2, 16)),
    )


MODELS: dict[str, FakeModel] = {
    "gen4.5": FakeModel(
        {
            "text_to_video": Schema(
                _T2V | {"ratio", "duration"}, _GEN45_OPTIONS, ("1280:720", "720:1280")
            ),
            "image_to_video": Schema(
                _I2V | {"ratio", "duration"}, _GEN45_OPTIONS | {"promptText"}, _GEN4
            ),
        },
        tuple(range(2, 11)),
        credits_per_second=12,
    ),
    "gen4_turbo": FakeModel(
        {
            "image_to_video": Schema(
                _I2V | {"ratio"},
                _keys("contentModeration", "duration", "promptText", "seed"),
                _GEN4,
            )
        },
        tuple(range(2, 11)),
        credits_per_second=5,
    ),
    "veo3.1": _veo(40),
    "veo3.1_fast": _veo(15),
    "kling3.0_pro": _kling(("1920:1080", "1080:1920", "1440:1440")),
    "kling3.0_standard": _kling(("1280:720", "720:1280", "960:960")),
    "seedance2": FakeModel(
        {
            "text_to_video": Schema(
                _T2V,
                _REF_MEDIA | {"audio", "duration", "ratio", "seed"},
                _SEEDANCE,
                max_references=9,
            ),
            "image_to_video": Schema(
                _I2V,
                _keys("audio", "duration", "promptText", "ratio", "referenceAudio", "seed"),
                _SEEDANCE,
                positions=_KF,
                reference_mode=True,
            ),
        },
        tuple(range(4, 16)),
        auto_duration=True,
    ),
    "gemini_omni_flash_1.1": FakeModel(
        {
            "text_to_video": Schema(
                _T2V, _keys("duration", "ratio", "references", "referenceVideos"), _OMNI
            ),
            "image_to_video": Schema(
                _I2V | {"promptText"}, _keys("duration", "ratio"), _OMNI, positions=_KF
            ),
            "video_to_video": Schema(
                _keys("model", "promptText", "videoUri"),
                _keys("duration", "mode", "ratio", "references"),
                _OMNI,
            ),
        },
        tuple(range(3, 11)),
        auto_duration=True,
    ),
    "kling_4": FakeModel(
        {
            "text_to_video": Schema(
                _T2V,
                _keys("duration", "ratio", "references", "referenceVideos"),
                _KLING4 + ("auto_720p", "auto_1080p"),
                max_references=10,
            ),
            "image_to_video": Schema(
                _I2V,
                _keys("duration", "promptText", "ratio", "references", "referenceVideos"),
                ("auto_720p", "auto_1080p"),
                positions=_KF,
                max_references=10,
                frames_count=True,
            ),
        },
        tuple(range(3, 16)),
    ),
    "happyhorse_1_0": FakeModel(
        {
            "text_to_video": Schema(_T2V, _keys("duration", "ratio"), _HAPPYHORSE),
            "image_to_video": Schema(
                _I2V, _keys("duration", "promptText", "resolution"), resolutions=_RES
            ),
        },
        tuple(range(3, 16)),
    ),
    "hailuo3": FakeModel(
        {
            "text_to_video": Schema(
                _T2V,
                _REF_MEDIA | {"duration", "ratio", "resolution"},
                _HAILUO_ASPECTS,
                ("768p", "2k", "768P", "2K"),
                max_references=9,
            ),
            "image_to_video": Schema(
                _I2V | {"promptText"},
                _keys("duration", "ratio", "referenceAudio", "resolution"),
                _HAILUO_ASPECTS,
                ("768p", "2k", "768P", "2K"),
                positions=_KF,
                reference_mode=True,
            ),
        },
        (6, 10),
        frames=_HAILUO_FRAMES,
    ),
    "wan3": _wan(),
    "wan3_prime": _wan(),
    "grok_imagine_1_5": FakeModel(
        {
            "text_to_video": Schema(
                _T2V,
                _keys("duration", "ratio", "referenceAudio", "references", "resolution"),
                _GROK_ASPECTS,
                _GROK_RES,
            ),
            "image_to_video": Schema(
                _I2V, _keys("duration", "promptText", "resolution"), resolutions=_GROK_RES
            ),
        },
        tuple(range(1, 16)),
        reference_resolutions=("480p", "720p"),
        frames=_GROK_FRAMES,
    ),
    "grok_imagine_1_5_lite": FakeModel(
        {
            "text_to_video": Schema(
                _T2V, _keys("duration", "ratio"), tuple(r for v in _GROK_LITE.values() for r in v)
            ),
            "image_to_video": Schema(_I2V, _keys("duration", "promptText", "ratio"), _AUTO),
        },
        tuple(range(1, 16)),
    ),
}


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
