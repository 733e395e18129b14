"""The `local` provider: open-weight video models rendered on this machine through diffusers.

It looks like a remote service to the engine: `submit` queues the job on the device worker and
answers at once; `retrieve` reads the live state (real step progress, an ETA from the measured
step time); `download` streams the finished MP4. A small JSON record per job under
`SORAKIT_HOME/local/` keeps the seed and the outcome, so a finished job outlives the process and
a job whose process stopped mid-render reads as failed rather than lost. Deleting a job that is
still rendering cancels it at the next denoising step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from sorakit.errors import ConfigurationError, InvalidRequestError, InvalidStateError, NotFoundError
from sorakit.providers.base import ContentVariant, Download, Provider, RemoteJob, SubmitRequest
from sorakit.providers.local._folders import EXTRA_HINT, LocalModel, find_model
from sorakit.providers.local._render import RenderPlan
from sorakit.providers.local._worker import DeviceWorker, Render, Renderer
from sorakit.settings import Settings
from sorakit.wire.videos import CONTENT_TYPES

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
FIRST_GUESS_SECONDS_PER_STEP = 2.0
"""Until a model has rendered once here, each step is guessed at this; progress corrects it."""


def extra_installed() -> bool:
    """Whether torch, diffusers and transformers are importable (`sorakit[local]`)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("torch", "diffusers", "transformers"))


class LocalProvider(Provider):
    """Renders with diffusers on one device, one job at a time, from local folders only."""

    name = "local"

    def __init__(self, settings: Settings, *, renderer: Renderer | None = None) -> None:
        self.settings = settings
        self.root = settings.home / "local"
        self._live: dict[str, Render] = {}
        self.worker = DeviceWorker(
            (lambda: renderer) if renderer is not None else self._host,
            on_finished=self._save_outcome,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalProvider:
        """The provider, or a `ConfigurationError` saying how to install what it needs."""
        if not extra_installed():
            raise ConfigurationError(
                f"local models need torch, diffusers and transformers: {EXTRA_HINT}"
            )
        return cls(settings)

    def _host(self) -> Renderer:
        from sorakit.providers.local._render import PipelineHost

        return PipelineHost(self.settings)

    # --- the seam ---------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """Queue the render (or return the job this idempotency key already made)."""
        existing = await self.find(request, since=0.0)
        if existing is not None:
            return existing
        model = await anyio.to_thread.run_sync(find_model, self.settings, request.model)
        plan = self._plan(model, request)
        job_id = "local_" + secrets.token_hex(12)
        render = Render(id=job_id, plan=plan, output=self.root / "videos" / f"{job_id}.mp4")
        record = {
            "id": job_id,
            "idempotency_key": request.idempotency_key,
            "model": model.name,
            "folder": str(model.folder),
            "prompt": request.prompt,
            "size": request.size,
            "frames": plan.frames,
            "fps": model.fps,
            "steps": plan.steps,
            "guidance": plan.guidance,
            "seed": plan.seed,
            "image": plan.image is not None,
            "last_image": plan.last_image is not None,
            "status": "queued",
            "created_at": render.created_at,
        }
        await anyio.to_thread.run_sync(self._write, job_id, record)
        self._live[job_id] = render
        self.worker.enqueue(render)
        logger.info("queued %s: %s, %d frames, seed %d", job_id, model.name, plan.frames, plan.seed)
        return self._remote(render)

    async def retrieve(self, remote_id: str) -> RemoteJob:
        """The live state of a render, or the recorded outcome of one from an earlier process."""
        render = self._live.get(remote_id)
        if render is not None:
            state = self._remote(render)
            if render.done.is_set():  # its record is on disk: the frames and image may go
                self._live.pop(remote_id, None)
            return state
        record = await anyio.to_thread.run_sync(self._read, remote_id)
        return self._recorded(record)

    @asynccontextmanager
    async def download(
        self, remote_id: str, variant: ContentVariant = "video"
    ) -> AsyncIterator[Download]:
        """Stream the finished MP4 in 64 KiB chunks."""
        if variant != "video":
            raise InvalidRequestError(
                f"the local provider serves only the video, not {variant!r}", param="variant"
            )
        state = await self.retrieve(remote_id)
        if state.status != "completed":
            raise InvalidStateError(
                f"video {remote_id} is {state.status}; its content is ready once it is completed"
            )
        path = self._video(remote_id)
        size = path.stat().st_size
        handle = await anyio.open_file(path, "rb")
        try:
            yield Download(
                chunks=_chunks(handle), media_type=CONTENT_TYPES["video"], expected_size=size
            )
        finally:
            await handle.aclose()

    async def find(
        self, request: SubmitRequest, *, since: float, exclude: Collection[str] = ()
    ) -> RemoteJob | None:
        """The job an earlier submit with this idempotency key made, or None."""
        del since  # the key alone identifies the job
        job_id = await anyio.to_thread.run_sync(self._job_for_key, request.idempotency_key)
        if job_id is None or job_id in exclude:
            return None
        try:
            return await self.retrieve(job_id)
        except NotFoundError:
            return None

    async def delete(self, remote_id: str) -> None:
        """Cancel a render at its next step; for a finished one, remove its files."""
        render = self._live.get(remote_id)
        if render is not None and not render.done.is_set():
            render.cancel.set()
            return
        self._live.pop(remote_id, None)
        await anyio.to_thread.run_sync(self._remove, remote_id)

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        """Steps times the model's last measured step time (a guess before its first render)."""
        steps = self.settings.local_steps
        try:
            model = find_model(self.settings, request.model)
        except ConfigurationError:
            return None
        per_step = self.worker.step_seconds.get(model.name, FIRST_GUESS_SECONDS_PER_STEP)
        queued = sum(not r.done.is_set() for r in self._live.values())
        return (1 + queued) * ((steps or model.steps) + 1) * per_step

    async def aclose(self) -> None:
        """Stop the render in progress at its next step and end the device thread."""
        for render in self._live.values():
            render.cancel.set()
        await anyio.to_thread.run_sync(self.worker.close)

    # --- planning and state -----------------------------------------------------------------

    def _plan(self, model: LocalModel, request: SubmitRequest) -> RenderPlan:
        if request.kind != "generate":
            raise InvalidRequestError(
                f"{model.name} renders new clips only; a {request.kind} needs another model"
            )
        multiple = model.family.size_multiple
        if request.width % multiple or request.height % multiple:
            raise InvalidRequestError(
                f"{model.name} needs a size in multiples of {multiple}, not {request.size}",
                param="size",
                allowed=list(model.sizes),
            )
        if request.reference is None and not model.takes_text:
            raise InvalidRequestError(
                f"{model.name} renders from a first-frame image; send input_reference",
                param="input_reference",
            )
        if request.reference is not None and not model.takes_image:
            raise InvalidRequestError(
                f"{model.name} renders from text only; it takes no input_reference",
                param="input_reference",
            )
        if request.last_frame is not None and not model.family.last_image:
            raise InvalidRequestError(f"{model.name} takes no last frame", param="last_frame")
        return RenderPlan(
            model=model,
            prompt=request.prompt,
            width=request.width,
            height=request.height,
            frames=model.frames_for(request.seconds),
            steps=self.settings.local_steps or model.steps,
            guidance=model.guidance,
            seed=seed_for(request.idempotency_key),
            image=request.reference.data if request.reference else None,
            last_image=request.last_frame.data if request.last_frame else None,
        )

    def _remote(self, render: Render) -> RemoteJob:
        now = time.time()
        return RemoteJob(
            id=render.id,
            status=render.status,
            progress=render.progress,
            size=f"{render.plan.width}x{render.plan.height}",
            error_code=render.error_code,
            error_message=render.error_message,
            expected_seconds=render.expected_seconds(now),
            cost=0.0 if render.status == "completed" else None,
            created_at=render.created_at,
        )

    def _recorded(self, record: dict[str, Any]) -> RemoteJob:
        status = record.get("status")
        if status == "completed" and self._video(record["id"]).is_file():
            return RemoteJob(id=record["id"], status="completed", progress=100, cost=0.0)
        if status == "failed":
            return RemoteJob(
                id=record["id"],
                status="failed",
                error_code=record.get("error_code") or "render_failed",
                error_message=record.get("error_message"),
            )
        return RemoteJob(
            id=record["id"],
            status="failed",
            error_code="interrupted",
            error_message="the process rendering this job stopped before it finished",
        )

    def _save_outcome(self, render: Render) -> None:
        """Called on the worker thread when a render ends."""
        record = self._read(render.id)
        record.update(
            status=render.status,
            error_code=render.error_code,
            error_message=render.error_message,
            steps_done=render.step,
            seconds_per_step=render.seconds_per_step(),
            finished_at=render.finished_at,
        )
        self._write(render.id, record)

    def _job_file(self, job_id: str) -> Path:
        if not job_id.startswith("local_") or not job_id[6:].isalnum():
            raise NotFoundError(f"no local job {job_id!r}")
        return self.root / "jobs" / f"{job_id}.json"

    def _video(self, job_id: str) -> Path:
        return self.root / "videos" / f"{job_id}.mp4"

    def _key_file(self, key: str) -> Path:
        return self.root / "keys" / hashlib.sha256(key.encode()).hexdigest()[:32]

    def _write(self, job_id: str, record: dict[str, Any]) -> None:
        path = self._job_file(job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(path)
        key_file = self._key_file(record["idempotency_key"])
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(job_id)

    def _read(self, job_id: str) -> dict[str, Any]:
        try:
            record: dict[str, Any] = json.loads(self._job_file(job_id).read_text())
        except FileNotFoundError:
            raise NotFoundError(f"no local job {job_id!r}") from None
        return record

    def _job_for_key(self, key: str) -> str | None:
        try:
            return self._key_file(key).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _remove(self, job_id: str) -> None:
        record = self._read(job_id)
        for path in (
            self._video(job_id),
            self._job_file(job_id),
            self._key_file(record.get("idempotency_key", "")),
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def seed_for(idempotency_key: str) -> int:
    """The job's seed, from its idempotency key: a retried create renders the same video."""
    return int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:4], "big")


async def _chunks(handle: Any) -> AsyncIterator[bytes]:
    while chunk := await handle.read(CHUNK_SIZE):
        yield chunk
