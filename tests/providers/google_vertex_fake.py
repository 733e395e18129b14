"""A fake of Vertex AI's Veo `predictLongRunning` / `fetchPredictOperation` (providers.md §3).

`Authorization: Bearer` auth, strict instance and parameter keys, a wrong JSON type for
`durationSeconds` or values outside Veo's tables are a 400 `INVALID_ARGUMENT`, `lastFrame` needs
`image`, `referenceImages` need 8 seconds at 16:9, a `video` to extend adds its length, and outputs
come back inline as base64 or are written to `storageUri` and served by the Cloud Storage fake. It
is mixed into `FakeGoogle` (in `google_fake`), whose clock, jobs and renders it shares.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import av
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.providers.gcs_fake import FakeGcs
from tests.providers.google_common_fake import (
    SAFETY_REASON,
    SIZES,
    GoogleApiError,
    Job,
    bad,
    fit_frame,
)

VEO_MODELS = ("veo-3.1-generate-001", "veo-3.1-fast-generate-001")
_VEO_INSTANCE_KEYS = {"prompt", "image", "lastFrame", "video", "referenceImages"}
_VEO_PARAMETER_KEYS = (
    {"sampleCount", "durationSeconds", "aspectRatio", "resolution", "seed", "fps"}
    | {"generateAudio", "personGeneration", "negativePrompt", "enhancePrompt", "storageUri"}
    | {"compressionQuality", "resizeMode"}
)


class VertexVeo:
    """Veo's long-running predictions on Vertex, sharing the host fake's jobs and clock."""

    project: str
    now: float
    jobs: dict[str, Job]
    gcs: FakeGcs
    _counter: int
    state: Callable[[Job], str]
    render_path: Callable[[Job], Path]
    _preamble: Callable[..., Coroutine[Any, Any, Response | None]]

    def __init__(self) -> None:
        super().__init__()
        self._written: set[str] = set()
        self.failed_operation: dict[str, Any] | None = None
        """Verbatim fields (`error`, `response`) a failed operation answers instead of ours."""

    def vertex_route(self) -> Route:
        """`POST …/publishers/google/models/{model}:{verb}`, the verbs Veo answers."""
        return Route(
            "/{v}/projects/{project}/locations/{location}/publishers/google/models/{action}",
            self._vertex,
            methods=["POST"],
        )

    async def _vertex(self, request: Request) -> Response:
        early = await self._preamble(request, vertex=True)
        if early is not None:
            return early
        params = request.path_params
        model, _, verb = params["action"].partition(":")
        if params["v"] not in ("v1", "v1beta1") or params["project"] != self.project:
            return GoogleApiError(404, "NOT_FOUND", "no such project or API version").response()
        if model not in VEO_MODELS:
            message = f"Publisher Model `{model}` was not found or your project lacks access."
            return GoogleApiError(404, "NOT_FOUND", message).response()
        prefix = f"projects/{params['project']}/locations/{params['location']}"
        prefix += f"/publishers/google/models/{model}"
        try:
            body = await request.json()
            if verb == "predictLongRunning":
                job = self._veo_job(body, model, prefix)
                self.jobs[job.id] = job
                return JSONResponse({"name": job.id})
            if verb == "fetchPredictOperation":
                return JSONResponse(await self._operation(body, prefix))
        except GoogleApiError as exc:
            return exc.response()
        return GoogleApiError(404, "NOT_FOUND", f"unknown method {verb}").response()

    def _veo_job(self, body: Any, model: str, prefix: str) -> Job:
        if not isinstance(body, dict) or set(body) - {"instances", "parameters"}:
            raise bad("Invalid JSON payload received.")
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1:
            raise bad("exactly one instance is required.")
        instance = instances[0]
        if set(instance) - _VEO_INSTANCE_KEYS or not isinstance(instance.get("prompt"), str):
            raise bad("instance needs a prompt and only known fields.")
        image = _media(instance.get("image"), "image")
        video = _media(instance.get("video"), "video")
        if instance.get("lastFrame") is not None and image is None:
            raise bad("lastFrame requires image (the first frame).")
        _media(instance.get("lastFrame"), "lastFrame")
        refs = _references(instance.get("referenceImages"))
        parameters = body.get("parameters", {})
        unknown = set(parameters) - _VEO_PARAMETER_KEYS
        if unknown:
            raise bad(f"Unknown name \"{sorted(unknown)[0]}\" at 'parameters'.")
        seconds = parameters.get("durationSeconds", 8)
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise bad(f"Invalid value at 'parameters.duration_seconds' (TYPE_INT32), {seconds!r}")
        if seconds not in (4, 6, 8):
            raise bad(f"durationSeconds must be 4, 6 or 8, got {seconds}.")
        key = (parameters.get("aspectRatio", "16:9"), parameters.get("resolution", "720p"))
        if key not in SIZES or key[1] == "360p":
            raise bad(f"unsupported aspectRatio/resolution {key[0]}/{key[1]}.")
        if refs and (seconds != 8 or key[0] != "16:9"):
            raise bad("referenceImages need durationSeconds 8 and aspectRatio 16:9.")
        storage = parameters.get("storageUri")
        if storage is not None and not re.fullmatch(r"gs://[a-z0-9._-]+/.*", str(storage)):
            raise bad(f"storageUri must be a gs:// URI, got {storage!r}.")
        if video is not None:
            seconds += round(_duration(video))
        self._counter += 1
        name = f"{prefix}/operations/{self._counter:019d}"
        frame = fit_frame(image, *SIZES[key])
        job = Job(name, model, instance["prompt"], SIZES[key], seconds, self.now, frame)
        roles = ("image",) * (image is not None) + ("lastFrame",) * ("lastFrame" in instance)
        job.images, job.storage_uri = roles + refs, storage
        return job

    async def _operation(self, body: Any, prefix: str) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) != {"operationName"}:
            raise bad("operationName is required.")
        name = body["operationName"]
        job = self.jobs.get(name)
        if job is None or not name.startswith(prefix + "/operations/"):
            raise GoogleApiError(404, "NOT_FOUND", f"Operation {name} not found.")
        state = self.state(job)
        if state in ("queued", "in_progress"):
            return {"name": name}
        kind = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
        if state == "failed" and self.failed_operation is not None:
            return {"name": name, "done": True, **self.failed_operation}
        if state == "failed":
            response = {"@type": kind, "raiMediaFilteredCount": 1}
            return {
                "name": name,
                "done": True,
                "response": {**response, "raiMediaFilteredReasons": [SAFETY_REASON]},
            }
        if job.storage_uri is not None:  # Veo writes `{storageUri}{operation id}/sample_0.mp4`
            uri = f"{job.storage_uri.rstrip('/')}/{name.rsplit('/', 1)[1]}/sample_0.mp4"
            if name not in self._written:  # written once: a deleted object stays gone
                self._written.add(name)
                self.gcs.put(uri, lambda: self.render_path(job))
            video = {"gcsUri": uri, "mimeType": "video/mp4"}
        else:
            data = (await asyncio.to_thread(self.render_path, job)).read_bytes()
            video = {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": "video/mp4"}
        return {
            "name": name,
            "done": True,
            "response": {"@type": kind, "raiMediaFilteredCount": 0, "videos": [video]},
        }


def _media(value: Any, what: str) -> bytes | None:
    """The bytes of an `{bytesBase64Encoded, mimeType}` instance field, or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"bytesBase64Encoded", "mimeType"}:
        raise bad(f"{what} needs bytesBase64Encoded and mimeType.")
    try:
        return base64.b64decode(value["bytesBase64Encoded"], validate=True)
    except binascii.Error:
        raise bad(f"{what} is not base64.") from None


def _references(value: Any) -> tuple[str, ...]:
    """The `referenceType` of each `referenceImages` entry (at most 3, each a real image)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not 1 <= len(value) <= 3:
        raise bad("referenceImages takes 1 to 3 images.")
    kinds: list[str] = []
    for ref in value:
        if not isinstance(ref, dict) or set(ref) != {"image", "referenceType"}:
            raise bad("each referenceImages entry needs image and referenceType.")
        if ref["referenceType"] not in ("ASSET", "STYLE"):
            raise bad(f"unknown referenceType {ref['referenceType']!r}.")
        fit_frame(_media(ref["image"], "referenceImages.image"), 16, 9)
        kinds.append(ref["referenceType"])
    return tuple(kinds)


def _duration(data: bytes) -> float:
    """Seconds of an MP4 the caller sent (a clip to extend); unreadable is a 400."""
    try:
        with av.open(io.BytesIO(data), "r") as container:
            return (container.duration or 0) / 1_000_000
    except av.error.FFmpegError:
        raise bad("video is not a readable MP4.") from None
