"""A fake of the Gemini API's video generation: Interactions and Files download (providers.md §2).

`x-goog-api-key` auth, the Google error envelope, strict request bodies (unknown keys, a wrong JSON
type for `duration`, values outside the model's tables are a 400 `INVALID_ARGUMENT`), queued ->
in_progress -> completed on a clock the test moves, a safety failure for prompts that mention
`forbidden`, Files API outputs that 404 after they expire, faults on demand (an error answer with
headers, a slow answer), cancel of running interactions only, and image roles bound by prompt tags.
`FakeGoogle` also serves Vertex Veo (the mixin in `google_vertex_fake`) and Cloud Storage
(`gcs_fake`). It is a Starlette app: the SDK sends through httpx2, so tests serve it with uvicorn
on loopback. Videos are real MP4s rendered by the simulator.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from sorakit.providers.simulator.render import Segment, render
from tests.providers.gcs_fake import FakeGcs
from tests.providers.google_common_fake import (
    SAFETY_REASON,
    SIZES,
    GoogleApiError,
    Job,
    bad,
    fit_frame,
)
from tests.providers.google_vertex_fake import VertexVeo

OMNI_MODELS = ("gemini-omni-1.2-flash", "gemini-omni-1.1-flash")
TASKS = {"text_to_video", "image_to_video", "reference_to_video", "edit", "extend", "upscale"}
_CREATE_KEYS = {"model", "input", "background", "store", "generation_config", "response_format"} | {
    "previous_interaction_id",
    "webhook_config",
}
_TAG = re.compile(r"<(FIRST_FRAME|LAST_FRAME|IMAGE_REF_(\d+))>")
_FORMAT_KEYS = {"type", "aspect_ratio", "duration", "resolution", "delivery"}


@dataclass
class Fault:
    """An answer to give instead of the real one (or a delay before the real one)."""

    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeGoogle(VertexVeo):
    """Gemini Interactions + Files download + Vertex Veo, in memory; `app` is the ASGI app."""

    def __init__(
        self,
        directory: Path,
        *,
        api_key: str = "gk-test-key",
        access_token: str = "ya29.test-token",
        project: str = "sorakit-test",
        queue_seconds: float = 5.0,
        render_seconds: float = 60.0,
        file_ttl: float = 3600.0,
    ) -> None:
        super().__init__()
        self.directory = directory
        self.api_key = api_key
        self.access_token = access_token
        self.project = project
        self.queue_seconds = queue_seconds
        self.render_seconds = render_seconds
        self.file_ttl = file_ttl
        self.now = 1_795_000_000.0
        self.jobs: dict[str, Job] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.faults: list[Fault] = []
        self.drop_video = False
        self.failed_interaction: dict[str, Any] | None = None
        """Verbatim fields (`errors`, `steps`) a failed interaction answers instead of ours."""
        self._counter = 0
        self._lock = threading.Lock()
        self._rendered: dict[str, Path] = {}
        self.gcs = FakeGcs(access_token)
        self.app = Starlette(
            routes=[
                Route("/{v}/interactions", self._create, methods=["POST"]),
                Route("/{v}/interactions/{iid}", self._one, methods=["GET", "DELETE"]),
                Route("/{v}/interactions/{iid}/cancel", self._cancel, methods=["POST"]),
                self.gcs.route(),
                Route("/v1beta/files/{name}", self._file, methods=["GET"]),
                self.vertex_route(),
            ]
        )

    # -- test controls -----------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def fail_next(
        self, status: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        names = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED"}
        name = names.get(status, "UNAVAILABLE" if status >= 500 else "INVALID_ARGUMENT")
        body = {"error": {"code": status, "message": message, "status": name}}
        self.faults.append(Fault(status, body, headers or {}))

    def slow_next(self, seconds: float) -> None:
        self.faults.append(Fault(delay=seconds))

    def render_path(self, job: Job) -> Path:
        """The job's MP4, rendered by the simulator the first time it is asked for."""
        with self._lock:
            if job.id not in self._rendered:
                stem = self.directory / re.sub(r"[^A-Za-z0-9_]", "_", job.id)
                path = stem.with_suffix(".mp4")
                width, height = job.size
                render(
                    [Segment(job.prompt, job.seconds, seed=1, first_frame=job.first_frame)],
                    width,
                    height,
                    path,
                    stem.with_suffix(".webp"),
                    stem.with_suffix(".jpg"),
                    fps=8,
                )
                self._rendered[job.id] = path
            return self._rendered[job.id]

    def state(self, job: Job) -> str:
        if job.cancelled:
            return "cancelled"
        elapsed = self.now - job.created
        if elapsed < self.queue_seconds:
            return "queued"
        if elapsed < self.queue_seconds + self.render_seconds:
            return "in_progress"
        if "forbidden" in job.prompt.lower():
            return "failed"
        if job.file_id is None:
            job.file_id = f"vid{job.id.split('_')[-1]}"
        return "completed"

    # -- plumbing ----------------------------------------------------------------------------

    async def _preamble(self, request: Request, *, vertex: bool = False) -> Response | None:
        body = await request.body()
        self.requests.append((request.method, request.url.path, body))
        if self.faults:
            fault = self.faults.pop(0)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                return JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)
        if vertex:
            if request.headers.get("authorization") != f"Bearer {self.access_token}":
                message = "Request had invalid credentials."
                return GoogleApiError(401, "UNAUTHENTICATED", message).response()
        elif request.headers.get("x-goog-api-key") != self.api_key:
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
            }
            message = "API key not valid. Please pass a valid API key."
            return GoogleApiError(400, "INVALID_ARGUMENT", message, details=[info]).response()
        return None

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter:04d}"

    @staticmethod
    def _stamp(value: float) -> str:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- Gemini Interactions -----------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        if request.path_params["v"] not in ("v1", "v1beta"):
            return GoogleApiError(404, "NOT_FOUND", "no such API version").response()
        early = await self._preamble(request)
        if early is not None:
            return early
        try:
            job = self._interaction_from(await request.json())
        except GoogleApiError as exc:
            return exc.response()
        self.jobs[job.id] = job
        return JSONResponse(self._interaction(job))

    def _interaction_from(self, body: Any) -> Job:
        if not isinstance(body, dict):
            raise bad("Invalid JSON payload received.")
        unknown = set(body) - _CREATE_KEYS
        if unknown:
            raise bad(f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}".')
        if not isinstance(body.get("model"), str) or "input" not in body:
            raise bad("model and input are required.")
        if body["model"] not in OMNI_MODELS:
            raise GoogleApiError(404, "NOT_FOUND", f"models/{body['model']} is not found.")
        if body.get("background") is not True:
            raise bad("video generation must run with background=true in this fake.")
        width, height, seconds = self._format(body.get("response_format"))
        task = self._task(body.get("generation_config"))
        prompt, roles, image, video = self._input(body["input"])
        webhooks = _webhook_uris(body.get("webhook_config"))
        previous = body.get("previous_interaction_id")
        if previous is not None:
            source = self.jobs.get(previous)
            if source is None or source.deleted:
                raise GoogleApiError(404, "NOT_FOUND", f"interaction {previous} is not found.")
            if self.state(source) != "completed":
                raise bad(f"interaction {previous} has no output to continue from.")
            if task == "extend":
                seconds += source.seconds
        if task == "image_to_video" and "FIRST_FRAME" not in roles:
            raise bad("task image_to_video needs a <FIRST_FRAME> image in the input.")
        if task == "reference_to_video" and not any(r.startswith("IMAGE_REF") for r in roles):
            raise bad("task reference_to_video needs an <IMAGE_REF_0> image in the input.")
        if task in ("edit", "extend") and previous is None and video is None:
            raise bad(f"task {task} needs a video or a previous_interaction_id.")
        job_id = self._next_id("v1_omni")
        frame = fit_frame(image, width, height)
        job = Job(job_id, body["model"], prompt, (width, height), seconds, self.now, frame)
        job.webhook_uris, job.images = webhooks, roles
        return job

    def _format(self, value: Any) -> tuple[int, int, int]:
        if not isinstance(value, dict) or value.get("type") != "video":
            raise bad("response_format must be a video format.")
        unknown = set(value) - _FORMAT_KEYS
        if unknown:
            raise bad(f"Unknown name \"{sorted(unknown)[0]}\" at 'response_format'.")
        duration = value.get("duration", "8s")
        if not isinstance(duration, str):
            raise bad(f"Invalid value at 'response_format.duration' (TYPE_STRING), {duration!r}")
        match = re.fullmatch(r"(\d+)s", duration)
        if match is None or not 3 <= int(match.group(1)) <= 10:
            raise bad(f"duration must be between 3s and 10s, got {duration!r}.")
        aspect = value.get("aspect_ratio", "16:9")
        resolution = value.get("resolution", "720p")
        if (aspect, resolution) not in SIZES:
            raise bad(f"unsupported aspect_ratio/resolution {aspect}/{resolution}.")
        if value.get("delivery", "inline") not in ("inline", "uri"):
            raise bad("delivery must be inline or uri.")
        width, height = SIZES[(aspect, resolution)]
        return width, height, int(match.group(1))

    @staticmethod
    def _task(config: Any) -> str | None:
        if config is None:
            return None
        if not isinstance(config, dict) or set(config) - {"seed", "video_config"}:
            raise bad("generation_config has unknown fields.")
        task = (config.get("video_config") or {}).get("task")
        if task is not None and task not in TASKS:
            raise bad(f"unknown video task {task!r}.")
        return task if isinstance(task, str) else None

    @staticmethod
    def _input(value: Any) -> tuple[str, tuple[str, ...], bytes | None, bytes | None]:
        """The prompt, the role of each image (from the prompt's tags), the first frame, a video."""
        if isinstance(value, str):
            return value, (), None, None
        if not isinstance(value, list) or len(value) != 1 or value[0].get("type") != "user_input":
            raise bad("input must be a string or one user_input step.")
        prompt, video = "", None
        images: list[bytes] = []
        for part in value[0].get("content", []):
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                prompt = part["text"]
            elif kind in ("image", "video") and isinstance(part.get("data"), str):
                try:
                    data = base64.b64decode(part["data"], validate=True)
                except binascii.Error:
                    raise bad(f"{kind} data is not base64.") from None
                if kind == "image":
                    images.append(data)
                else:
                    video = data
            else:
                raise bad(f"unsupported content part {kind!r}.")
        roles = tuple(match.group(1) for match in _TAG.finditer(prompt))
        refs = [role for role in roles if role.startswith("IMAGE_REF")]
        if len(roles) != len(images) or len(set(roles)) != len(roles):
            raise bad(f"{len(images)} images but the prompt tags {len(roles)} distinct roles.")
        if "LAST_FRAME" in roles and "FIRST_FRAME" not in roles:
            raise bad("<LAST_FRAME> must be used together with <FIRST_FRAME>.")
        if len(refs) > 3 or refs != [f"IMAGE_REF_{n}" for n in range(len(refs))]:
            raise bad("image references are <IMAGE_REF_0>..<IMAGE_REF_2>, in order.")
        first = images[roles.index("FIRST_FRAME")] if "FIRST_FRAME" in roles else None
        return prompt, roles, first, video

    def _interaction(self, job: Job) -> dict[str, Any]:
        state = self.state(job)
        out: dict[str, Any] = {
            "id": job.id,
            "status": state,
            "model": job.model,
            "created": self._stamp(job.created),
            "updated": self._stamp(self.now),
        }
        if state == "completed" and self.drop_video:  # a regional block on an edit
            out["steps"] = [{"type": "model_output", "content": []}]
        elif state == "completed":
            uri = f"https://generativelanguage.googleapis.com/v1beta/files/{job.file_id}:download?alt=media"
            video = {"type": "video", "mime_type": "video/mp4", "uri": uri}
            out["steps"] = [{"type": "model_output", "content": [video]}]
            out["usage"] = {"total_output_tokens": 5792 * job.seconds, "total_input_tokens": 120}
        elif state == "failed" and self.failed_interaction is not None:
            out.update(self.failed_interaction)
        elif state == "failed":
            out["errors"] = [{"code": "SAFETY", "message": SAFETY_REASON}]
        return out

    async def _one(self, request: Request) -> Response:
        """`GET` or `DELETE /{v}/interactions/{id}`."""
        early = await self._preamble(request)
        if early is not None:
            return early
        job = self.jobs.get(request.path_params["iid"])
        if job is None or job.deleted:
            return GoogleApiError(404, "NOT_FOUND", "Interaction not found.").response()
        if request.url.path.endswith("/cancel"):
            if self.state(job) not in ("queued", "in_progress"):
                message = "Only running background interactions can be cancelled."
                return GoogleApiError(400, "FAILED_PRECONDITION", message).response()
            job.cancelled = True
            return JSONResponse(self._interaction(job))
        if request.method == "DELETE":
            job.deleted = True
            return JSONResponse({})
        return JSONResponse(self._interaction(job))

    async def _cancel(self, request: Request) -> Response:
        """`POST /{v}/interactions/{id}/cancel`: background interactions that still run only."""
        return await self._one(request)

    async def _file(self, request: Request) -> Response:
        early = await self._preamble(request)
        if early is not None:
            return early
        name = request.path_params["name"]
        if not name.endswith(":download") or request.query_params.get("alt") != "media":
            return GoogleApiError(400, "INVALID_ARGUMENT", "use :download?alt=media").response()
        file_id = name.removesuffix(":download")
        job = next((j for j in self.jobs.values() if j.file_id == file_id), None)
        expired = job is not None and self.now > job.created + self.queue_seconds + (
            self.render_seconds + self.file_ttl
        )
        if job is None or job.deleted or expired:
            return GoogleApiError(404, "NOT_FOUND", f"File {file_id} not found.").response()
        path = await asyncio.to_thread(self.render_path, job)
        return FileResponse(path, media_type="video/mp4")


def _webhook_uris(value: Any) -> tuple[str, ...]:
    """`webhook_config.uris`: http(s) URLs that replace the registered webhooks for this call."""
    if value is None:
        return ()
    uris = value.get("uris") if isinstance(value, dict) else None
    if not isinstance(uris, list) or set(value) - {"uris", "user_metadata"}:
        raise bad("webhook_config takes uris (a list) and user_metadata.")
    if not all(isinstance(uri, str) and re.match(r"https?://", uri) for uri in uris):
        raise bad("webhook_config.uris must be http(s) URLs.")
    return tuple(uris)
