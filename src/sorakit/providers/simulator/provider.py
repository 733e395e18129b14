"""The simulator provider: an offline stand-in for the Sora Videos API that renders real videos.

It behaves like a remote service: jobs are files under `settings.simulator_dir` (see `state`),
so they survive the process; a job's status follows the wall clock (queued, then in progress
along the configured curve, then completed after `SORAKIT_SIMULATOR_RENDER_SECONDS`); the
video is rendered lazily, once, when it is first asked for; and `SORAKIT_SIMULATOR_FAULTS`
injects the failures a real service has (see `faults`), already translated into
`sorakit.errors`, as every provider must.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import anyio
from PIL import Image

from sorakit.errors import (
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ProviderConnectionError,
    ProviderUnavailableError,
    RateLimitedError,
)
from sorakit.providers.base import (
    IMAGE_FORMATS,
    Character,
    ContentVariant,
    Download,
    Provider,
    RemoteJob,
    SourceVideo,
    SubmitRequest,
)
from sorakit.providers.simulator.faults import Fault, FaultInjector, FaultPlan, Operation
from sorakit.providers.simulator.images import (
    IMAGE_RENDER_SHARE,
    image_path,
    render_image_file,
)
from sorakit.providers.simulator.planning import JobPlanner, live_job
from sorakit.providers.simulator.render import Segment, render
from sorakit.providers.simulator.state import (
    MODERATION_MARKER,
    CharacterRecord,
    FailPlan,
    JobRecord,
    JobState,
    MediaFiles,
    SegmentSpec,
    SimulatorStore,
    job_state,
    new_character_id,
    new_job_id,
)
from sorakit.settings import Settings
from sorakit.wire.videos import (
    CHARACTER_NAME_MAX_LENGTH,
    CONTENT_TYPES,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024


class SimulatorProvider(Provider):
    """Renders real H.264 + AAC MP4s offline, with Sora's lifecycle, refusals and faults."""

    name = "simulator"
    variants = frozenset({"video", "thumbnail", "spritesheet", "image"})

    def __init__(
        self,
        settings: Settings,
        *,
        faults: FaultInjector | None = None,
        clock: Callable[[], float] = time.time,
        fps: int = 24,
        render_threads: int = 0,
    ) -> None:
        self.settings = settings
        self.store = SimulatorStore(settings.simulator_dir)
        self.faults = (
            faults
            if faults is not None
            else FaultInjector(FaultPlan.parse(settings.simulator_faults))
        )
        self.clock = clock
        self.fps = fps
        self.render_threads = render_threads
        self.planner = JobPlanner(self.store, settings, clock)
        self._locks: dict[str, asyncio.Lock] = {}
        self._renders: anyio.CapacityLimiter | None = None

    # --- the seam ---------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """Create the job (or return the one this idempotency key already made)."""
        fault = self._wire_fault("create")
        existing = self._job_for_key(request.idempotency_key)
        record = existing or await self._create(request)
        if fault is Fault.LOST_CREATE:
            logger.debug("losing the answer to the create of %s", record.id)
            raise ProviderConnectionError(
                "the connection to the simulator was reset before the create was answered",
                provider=self.name,
            )
        return self._remote(record, job_state(record, self.clock()))

    async def retrieve(self, remote_id: str) -> RemoteJob:
        """The job's state now; the first retrieve that sees completion renders the video."""
        self._wire_fault("retrieve")
        record = self._job(remote_id)
        state = job_state(record, self.clock())
        if state.status == "completed":
            await (
                self._rendered_image(record) if record.kind == "image" else self._rendered(record)
            )
        return self._remote(record, state)

    @asynccontextmanager
    async def download(
        self, remote_id: str, variant: ContentVariant = "video"
    ) -> AsyncIterator[Download]:
        """Stream one content variant of a completed job in 64 KiB chunks."""
        fault = self._wire_fault("download")
        if variant not in self.variants:
            raise InvalidRequestError(
                f"unknown content variant {variant!r}",
                param="variant",
                allowed=sorted(self.variants),
            )
        record = self._job(remote_id)
        state = job_state(record, self.clock())
        if state.status != "completed":
            raise InvalidStateError(
                f"video {remote_id} is {state.status}; its content is ready once it is completed"
            )
        if (variant == "image") != (record.kind == "image"):
            raise InvalidRequestError(
                f"{remote_id} has no {variant}: an image job serves `image`, a video the others",
                param="variant",
            )
        if variant == "image":
            path = await self._rendered_image(record)
            media_type = IMAGE_FORMATS[record.output_format]
        else:
            path = (await self._rendered(record)).path(variant)
            media_type = CONTENT_TYPES[variant]
        handle = await anyio.open_file(path, "rb")
        try:
            size = os.fstat(handle.wrapped.fileno()).st_size
            limit = size
            expected: int | None = size
            if fault in (Fault.TRUNCATE, Fault.RESET):
                limit = self.faults.truncate_at(size)
                if fault is Fault.TRUNCATE and not self.faults.keeps_length():
                    expected = None
            chunks = _read(handle, limit, reset=fault is Fault.RESET)
            try:
                yield Download(chunks=chunks, media_type=media_type, expected_size=expected)
            finally:
                await chunks.aclose()
        finally:
            await handle.aclose()

    async def find(
        self,
        request: SubmitRequest,
        *,
        since: float,  # noqa: ARG002 - the idempotency key alone identifies the job
        exclude: Collection[str] = (),
    ) -> RemoteJob | None:
        """The job an earlier submit with this idempotency key made, or None."""
        self._wire_fault("other")
        record = self._job_for_key(request.idempotency_key)
        if record is None or record.deleted or record.id in exclude:
            return None
        return self._remote(record, job_state(record, self.clock()))

    async def delete(self, remote_id: str) -> None:
        """Delete a finished job and its rendered files (as the API: completed or failed only)."""
        self._wire_fault("other")
        record = self._job(remote_id)
        state = job_state(record, self.clock())
        if state.status not in ("completed", "failed"):
            raise InvalidStateError(
                f"video {remote_id} is {state.status}; only a finished video can be deleted"
            )
        async with self._lock(record.id):
            self.store.mark_deleted(record)
            await anyio.to_thread.run_sync(self._remove_media, record.id)

    async def create_character(self, name: str, video: SourceVideo) -> Character:
        """Make a character from a short clip (checked to be a readable video)."""
        self._wire_fault("other")
        name = name.strip()
        if not 1 <= len(name) <= CHARACTER_NAME_MAX_LENGTH:
            raise InvalidRequestError(
                f"a character name has 1 to {CHARACTER_NAME_MAX_LENGTH} characters", param="name"
            )
        await self.planner.clip(video, param="video")
        record = CharacterRecord(id=new_character_id(), name=name, created_at=int(self.clock()))
        self.store.save_character(record)
        return Character(id=record.id, name=record.name, created_at=record.created_at)

    async def retrieve_character(self, character_id: str) -> Character:
        """Look a character up by id."""
        self._wire_fault("other")
        record = self.store.load_character(character_id)
        if record is None:
            raise NotFoundError(f"no character {character_id!r}", param="character_id")
        return Character(id=record.id, name=record.name, created_at=record.created_at)

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        """The configured render time (`SORAKIT_SIMULATOR_RENDER_SECONDS`; a share for images)."""
        share = IMAGE_RENDER_SHARE if request.kind == "image" else 1.0
        return self.settings.simulator_render_seconds * share

    # --- creating ---------------------------------------------------------------------------

    async def _create(self, request: SubmitRequest) -> JobRecord:
        """Validate like the remote API, then make the job's record, once per idempotency key."""
        record = await self.planner.plan(new_job_id(), request)
        if MODERATION_MARKER in request.prompt:
            record = replace(record, fail=FailPlan(fraction=0.5))
        elif self.faults.moderation():
            record = replace(record, fail=FailPlan(fraction=self.faults.fail_fraction()))
        self.store.save_job(record)
        winner = self.store.claim_key(request.idempotency_key, record.id)
        if winner != record.id:
            self.store.discard_job(record.id)
            other = self.store.load_job(winner)
            if other is None:
                raise ProviderUnavailableError(
                    "the simulator lost a job record", provider=self.name
                )
            return other
        self.store.log_create(record)
        logger.info("simulator created %s (%s, %s s)", record.id, record.kind, record.total_seconds)
        return record

    # --- state and content ------------------------------------------------------------------

    def _job(self, remote_id: str) -> JobRecord:
        return live_job(self.store, remote_id)

    def _job_for_key(self, key: str) -> JobRecord | None:
        job_id = self.store.job_for_key(key)
        return self.store.load_job(job_id) if job_id else None

    def _remote(self, record: JobRecord, state: JobState) -> RemoteJob:
        poll_after = None
        if state.status in ("queued", "in_progress"):
            poll_after = max(0.05, min(state.remaining, max(0.25, record.render_seconds / 10)))
        return RemoteJob(
            id=record.id,
            status=state.status,
            progress=state.progress,
            seconds=str(record.total_seconds),
            size=record.size,
            error_code=state.error_code,
            error_message=state.error_message,
            poll_after=poll_after,
            created_at=record.created_at,
            remixed_from=record.source_id if record.kind == "remix" else None,
        )

    def _lock(self, job_id: str) -> asyncio.Lock:
        return self._locks.setdefault(job_id, asyncio.Lock())

    async def _rendered(self, record: JobRecord) -> MediaFiles:
        """The job's files, rendering them first if no one has yet."""
        files = self.store.media_files(record.id)
        if files.complete():
            return files
        lock = self._lock(record.id)
        async with lock:
            if not files.complete():
                if self._renders is None:
                    # One encode per core: a thousand jobs finishing at once otherwise start a
                    # thousand encoders, and memory and threads grow with them (§11).
                    self._renders = anyio.CapacityLimiter(os.cpu_count() or 1)
                await anyio.to_thread.run_sync(self._render, record, files, limiter=self._renders)
        if not lock.locked():  # the files are there now; the render lock keeps processes apart
            self._locks.pop(record.id, None)
        if not files.complete():
            raise NotFoundError(f"video {record.id} was deleted", param="video_id")
        return files

    async def _rendered_image(self, record: JobRecord) -> Path:
        """The job's image, painted first if no one has yet (`images.render_image_file`)."""
        path = image_path(self.store, record)
        if not path.is_file():
            if self._renders is None:
                self._renders = anyio.CapacityLimiter(os.cpu_count() or 1)
            async with self._lock(record.id):
                done = await anyio.to_thread.run_sync(
                    render_image_file, record, self.store, limiter=self._renders
                )
            lock = self._locks.get(record.id)
            if lock is not None and not lock.locked():
                self._locks.pop(record.id, None)
            if done is None:
                raise NotFoundError(f"image {record.id} was deleted", param="image_id")
        return path

    def _remove_media(self, job_id: str) -> None:
        with self.store.render_lock(job_id):
            self.store.remove_media(job_id)

    def _render(self, record: JobRecord, files: MediaFiles) -> None:
        with self.store.render_lock(record.id):
            current = self.store.load_job(record.id)
            if files.complete() or current is None or current.deleted:
                return
            files.video.parent.mkdir(parents=True, exist_ok=True)
            for stale in files.video.parent.glob(".*.part"):  # a render that died midway
                stale.unlink(missing_ok=True)
            segments = [self._segment(spec, record) for spec in record.segments]
            started = time.perf_counter()
            result = render(
                segments,
                record.width,
                record.height,
                files.video,
                files.thumbnail,
                files.spritesheet,
                fps=self.fps,
                threads=self.render_threads,
            )
            logger.info(
                "simulator rendered %s: %s, %.1f s of video in %.2f s",
                record.id,
                record.size,
                result.seconds,
                time.perf_counter() - started,
            )

    def _segment(self, spec: SegmentSpec, record: JobRecord) -> Segment:
        first = None
        if spec.reference is not None:
            with Image.open(self.store.reference_path(spec.reference)) as image:
                first = image.convert("RGB")
            if first.size != (record.width, record.height):
                first = first.resize((record.width, record.height))
        return Segment(
            prompt=spec.prompt,
            seconds=spec.seconds,
            seed=spec.seed,
            first_frame=first,
            continue_previous=spec.continue_previous,
            label=spec.label,
            characters=spec.characters,
        )

    def _wire_fault(self, operation: Operation) -> Fault | None:
        """Draw a fault; raise the errors that happen before an answer, return the others."""
        fault = self.faults.pick(operation)
        if fault is Fault.RATE_LIMIT:
            retry_after = self.faults.plan.retry_after
            raise RateLimitedError(
                f"the simulator is rate limiting requests; retry after {retry_after:g} s",
                provider=self.name,
                status_code=429,
                retry_after=retry_after,
            )
        if fault is Fault.SERVER_ERROR:
            status = self.faults.status_code()
            raise ProviderUnavailableError(
                f"the simulator answered HTTP {status}", provider=self.name, status_code=status
            )
        if fault is Fault.RESET and operation != "download":
            _reset(self.name)
        return fault


async def _read(
    handle: anyio.AsyncFile[bytes], limit: int, *, reset: bool
) -> AsyncGenerator[bytes, None]:
    """Up to `limit` bytes of the file in chunks; then a reset, if asked."""
    left = limit
    while left > 0:
        chunk = await handle.read(min(CHUNK_SIZE, left))
        if not chunk:
            break
        left -= len(chunk)
        yield chunk
    if reset:
        _reset("simulator")


def _reset(provider: str) -> NoReturn:
    raise ProviderConnectionError("the connection to the simulator was reset", provider=provider)
