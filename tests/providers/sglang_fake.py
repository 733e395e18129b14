"""A fake of SGLang diffusion's Videos API (`sglang serve --model-path <video model>`).

Read in `sgl-project/sglang` (`python/sglang/multimodal_gen/runtime/entrypoints/openai/
video_api.py`, 2026): `POST /v1/videos` takes a JSON body or a multipart form (a text-to-video
model needs no image; an image-to-video one refuses a create without one, 400); `model` is not
checked (the job reports the request's model, or `sora-2`); `seconds` is an integer field;
the job stays `queued` with `progress` 0 until it is `completed` with 100 (no `in_progress`); a
failed job is answered with HTTP 200, `status: failed` and `error: {message}` without a code;
`DELETE` answers the job itself with `status: "deleted"` (and does not abort it);
`GET /v1/videos/{id}/content` is 404 `Generation is still in-progress` until the file exists.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from tests.conftest import make_mp4


class _Create(BaseModel):
    """SGLang's `VideoGenerationsRequest`, in the fields sorakit sends."""

    prompt: str
    model: str | None = None
    seconds: int | None = 4
    size: str | None = "720x1280"
    input_reference: str | None = None


@dataclass
class SglangFake:
    """The server's jobs, what each create carried, and whether its model needs an image."""

    image_to_video: bool = False
    polls_to_finish: int = 2
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    expected_seconds: float | None = None
    """Tests' speed only: sorakit's own `x-sorakit-expected-seconds` render estimate, which the
    engine's poll schedule reads (the real server sends none, so sorakit polls by its own)."""
    creates: list[str] = field(default_factory=list)
    references: dict[str, bytes] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/videos")
        async def create(request: Request, answer: Response) -> dict[str, Any]:
            self._hint(answer)
            payload, reference = await self._read_create(request)
            if self.image_to_video and reference is None and not payload.get("input_reference"):
                raise HTTPException(
                    400,
                    "input_reference or reference_url is required for image-to-video generation",
                )
            try:
                req = _Create(**payload)
            except ValidationError as exc:
                raise HTTPException(400, f"Invalid request body: {exc}") from exc
            request_id = uuid.uuid4().hex
            width, height = (int(v) for v in (req.size or "720x1280").split("x"))
            job = {
                "id": request_id,
                "object": "video",
                "model": req.model or "sora-2",
                "status": "queued",
                "progress": 0,
                "created_at": int(time.time()),
                "size": f"{width}x{height}",
                "seconds": str(req.seconds or 4),
                "quality": "standard",
                "prompt": req.prompt,
            }
            self.jobs[request_id] = job
            if reference is not None:
                self.references[request_id] = reference
            return job

        @app.get("/v1/videos/{video_id}")
        async def retrieve(video_id: str, answer: Response) -> dict[str, Any]:
            job = self._job(video_id)
            self._hint(answer)
            self.polls[video_id] = self.polls.get(video_id, 0) + 1
            if job["status"] == "queued" and self.polls[video_id] >= self.polls_to_finish:
                if "FAIL" in job["prompt"]:
                    job.update(status="failed", error={"message": "CUDA error: out of memory"})
                else:
                    job.update(status="completed", progress=100, completed_at=int(time.time()))
            return job

        @app.delete("/v1/videos/{video_id}")
        async def delete(video_id: str) -> dict[str, Any]:
            job = self.jobs.pop(video_id, None)
            if job is None:
                raise HTTPException(404, "Video not found")
            return {**job, "status": "deleted"}

        @app.get("/v1/videos/{video_id}/content")
        async def content(video_id: str) -> Response:
            job = self._job(video_id)
            if job["status"] != "completed":
                raise HTTPException(404, "Generation is still in-progress")
            width, height = (int(v) for v in job["size"].split("x"))
            return Response(make_mp4(0.5, (width, height)), media_type="video/mp4")

        return app

    async def _read_create(self, request: Request) -> tuple[dict[str, Any], bytes | None]:
        """The create's fields and uploaded reference: a multipart form, else a JSON body."""
        content_type = request.headers.get("content-type", "").lower()
        self.creates.append(content_type.split(";")[0])
        if "multipart/form-data" not in content_type:
            try:
                return dict(await request.json() or {}), None
            except ValueError:
                return {}, None
        reference: bytes | None = None
        async with request.form() as form:
            upload = form.get("input_reference")
            if isinstance(upload, UploadFile):
                reference = await upload.read()
            payload = {key: form.get(key) for key in ("prompt", "model", "seconds", "size")}
        if not payload.get("prompt"):
            raise HTTPException(400, "prompt is required")
        return {key: value for key, value in payload.items() if value is not None}, reference

    def _hint(self, answer: Response) -> None:
        if self.expected_seconds is not None:
            answer.headers["x-sorakit-expected-seconds"] = str(self.expected_seconds)

    def _job(self, video_id: str) -> dict[str, Any]:
        job = self.jobs.get(video_id)
        if job is None:
            raise HTTPException(404, "Video not found")
        return job
