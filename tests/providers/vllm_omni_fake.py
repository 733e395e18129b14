"""A fake of vLLM-Omni's Videos API (`vllm serve <model> --omni`), as its source answers.

Read in `vllm-project/vllm-omni` (`entrypoints/openai/api_server.py` and `protocol/videos.py`,
2026-11): one model per server and a `model` field that must name it (400 `Model mismatch`);
`POST /v1/videos` parses `multipart/form-data` fields only (a JSON body is FastAPI's 422 for the
missing `prompt` form field); `seconds` matches `^[1-9]\\d*$`; jobs go queued -> in_progress ->
completed with `progress` 0 until 100; `DELETE` of a running job cancels it; the job record
carries vLLM's extra fields (`quality`, `media_type`, `file_name`, `inference_time_s`, ...).

A job whose prompt contains `FAIL` fails as a generation exception does there: `status: failed`
and `error: {code: <exception class name>, message: <its text>}`. The source read answers that
job with HTTP 200; `failed_status` makes the fake answer it with that HTTP status and the job as
the body instead (what the earlier reading of a newer version reported), to prove either reads
as a failed job.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from tests.conftest import make_mp4


@dataclass
class VllmOmniFake:
    """The server's state: its served model name, its jobs, and what each create carried."""

    served_model: str = "Wan-AI/Wan2.2-T2V-A14B-Diffusers"
    polls_to_finish: int = 2
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    expected_seconds: float | None = None
    """Tests' speed only: sorakit's own `x-sorakit-expected-seconds` render estimate, which the
    engine's poll schedule reads (the real server sends none, so sorakit polls by its own)."""
    references: dict[str, bytes] = field(default_factory=dict)
    failed_status: int = 200
    creates: list[str] = field(default_factory=list)
    """The content type of every create that reached the handler."""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/videos")
        async def create(
            request: Request,
            answer: Response,
            prompt: Annotated[str, Form()],
            model: Annotated[str | None, Form()] = None,
            seconds: Annotated[str | None, Form(pattern=r"^[1-9]\d*$")] = None,
            size: Annotated[str | None, Form(pattern=r"^\d+x\d+$")] = None,
            input_reference: Annotated[UploadFile | None, File()] = None,
        ) -> dict[str, Any]:
            if model is not None and model != self.served_model:
                raise HTTPException(
                    400,
                    f"Model mismatch: request specifies '{model}' but server is running "
                    f"'{self.served_model}'.",
                )
            self._hint(answer)
            self.creates.append(request.headers.get("content-type", "").split(";")[0])
            job: dict[str, Any] = {
                "id": f"video_gen_{uuid.uuid4().hex}",
                "object": "video",
                "model": self.served_model,
                "prompt": prompt,
                "status": "queued",
                "size": size,
                "progress": 0,
                "seconds": seconds or "4",
                "quality": "default",
                "completed_at": None,
                "created_at": int(time.time()),
                "remixed_from_video_id": None,
                "error": None,
                "media_type": "video/mp4",
                "expires_at": None,
                "file_name": None,
                "inference_time_s": None,
                "stage_durations": {},
                "peak_memory_mb": 0.0,
            }
            self.jobs[job["id"]] = job
            if input_reference is not None:
                self.references[job["id"]] = await input_reference.read()
            return job

        @app.get("/v1/videos/{video_id}", response_model=None)
        async def retrieve(video_id: str, answer: Response) -> dict[str, Any] | JSONResponse:
            job = self._job(video_id)
            self._hint(answer)
            self.polls[video_id] = self.polls.get(video_id, 0) + 1
            if job["status"] in ("queued", "in_progress"):
                done = self.polls[video_id] >= self.polls_to_finish
                job.update(status="completed" if done else "in_progress")
                if done and "FAIL" in job["prompt"]:
                    job.update(
                        status="failed",
                        completed_at=int(time.time()),
                        error={
                            "code": "OutOfMemoryError",
                            "message": "CUDA out of memory. Tried to allocate 2.00 GiB",
                        },
                    )
                elif done:
                    job.update(
                        progress=100,
                        completed_at=int(time.time()),
                        file_name=f"{video_id}.mp4",
                        inference_time_s=1.5,
                        peak_memory_mb=41234.0,
                    )
            if job["status"] == "failed" and self.failed_status != 200:
                return JSONResponse(job, status_code=self.failed_status)
            return job

        @app.get("/v1/videos/{video_id}/content")
        async def content(video_id: str) -> Response:
            job = self._job(video_id)
            if job["status"] == "failed":
                raise HTTPException(
                    422, "Video generation failed. Check job status for error details."
                )
            if job["status"] != "completed":
                raise HTTPException(404, "Generation is still in-progress")
            width, height = (int(v) for v in (job["size"] or "64x48").split("x"))
            return Response(make_mp4(0.5, (width, height)), media_type="video/mp4")

        @app.delete("/v1/videos/{video_id}")
        async def delete(video_id: str) -> dict[str, Any]:
            self._job(video_id)
            self.jobs.pop(video_id)
            return {"id": video_id, "deleted": True, "object": "video.deleted"}

        return app

    def _hint(self, answer: Response) -> None:
        if self.expected_seconds is not None:
            answer.headers["x-sorakit-expected-seconds"] = str(self.expected_seconds)

    def _job(self, video_id: str) -> dict[str, Any]:
        job = self.jobs.get(video_id)
        if job is None:
            raise HTTPException(404, "Video not found")
        return job
