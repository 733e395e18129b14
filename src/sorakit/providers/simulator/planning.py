"""Planning a simulator job: the remote API's refusals, then the record that will be rendered.

Remix and edit keep their source's size and length; an extension is its source's segments plus
one that continues from the source's last frame; an edit opens on its source's first frame (a
completed job's, or an uploaded clip's, read with PyAV).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable
from dataclasses import replace

import anyio
from PIL import Image

from sorakit.errors import (
    InvalidRequestError,
    InvalidStateError,
    MediaError,
    NotFoundError,
    ReferenceImageError,
)
from sorakit.providers.base import ReferenceImage, SourceVideo, SubmitRequest
from sorakit.providers.simulator.images import plan_image
from sorakit.providers.simulator.render import Clip, opening_image, read_clip
from sorakit.providers.simulator.state import JobRecord, SegmentSpec, SimulatorStore, job_state
from sorakit.settings import Settings
from sorakit.wire.videos import MAX_CHARACTERS_PER_VIDEO, PROMPT_MAX_LENGTH

logger = logging.getLogger(__name__)

MAX_EXTENSIONS = 6
MAX_TOTAL_SECONDS = 120
MAX_SIDE = 4096
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def live_job(store: SimulatorStore, remote_id: str, *, param: str = "video_id") -> JobRecord:
    """The record of a job that exists and is not deleted, or NotFoundError."""
    record = store.load_job(remote_id)
    if record is None or record.deleted:
        raise NotFoundError(f"no video {remote_id!r}", param=param)
    return record


class JobPlanner:
    """Turns a `SubmitRequest` into a `JobRecord`, refusing what the remote API refused."""

    def __init__(
        self, store: SimulatorStore, settings: Settings, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    async def plan(self, job_id: str, request: SubmitRequest) -> JobRecord:
        """The record for this request (not yet saved)."""
        _check_prompt(request.prompt)
        if request.kind == "image":
            _parse_size(request.size)
            return plan_image(self._base(job_id, request, request.size, 0, 0), request, self.store)
        if request.kind == "generate":
            return await self._generate(job_id, request)
        if request.kind == "remix":
            return self._remix(job_id, request)
        if request.kind == "extend":
            return self._extend(job_id, request)
        return await self._edit(job_id, request)

    def _base(
        self, job_id: str, request: SubmitRequest, size: str, seconds: int, total: int
    ) -> JobRecord:
        return JobRecord(
            id=job_id,
            kind=request.kind,
            model=request.model,
            prompt=request.prompt,
            size=size,
            seconds=seconds,
            total_seconds=total,
            created_at=self.clock(),
            render_seconds=self.settings.simulator_render_seconds,
            progress_curve=self.settings.simulator_progress,
            seed=_seed(request.kind, request.model, request.prompt, size, request.source_id or ""),
            idempotency_key=request.idempotency_key,
            segments=(),
            source_id=request.source_id,
        )

    async def _generate(self, job_id: str, request: SubmitRequest) -> JobRecord:
        width, height = _parse_size(request.size)
        _check_seconds(request.seconds, MAX_TOTAL_SECONDS)
        names = self.character_names(request.characters)
        reference = None
        if request.reference is not None:
            png = await anyio.to_thread.run_sync(_reference_png, request.reference, width, height)
            reference = self.store.save_reference(job_id, png)
        record = self._base(job_id, request, request.size, request.seconds, request.seconds)
        spec = SegmentSpec(
            request.prompt, request.seconds, record.seed, reference, False, _label(request), names
        )
        return replace(record, segments=(spec,), reference=reference, characters=request.characters)

    def _remix(self, job_id: str, request: SubmitRequest) -> JobRecord:
        source = self.source(request)
        names = self.character_names(request.characters)
        record = self._base(
            job_id, request, source.size, source.total_seconds, source.total_seconds
        )
        reference = source.segments[0].reference
        spec = SegmentSpec(
            request.prompt,
            source.total_seconds,
            record.seed,
            reference,
            False,
            _label(request),
            names,
        )
        return replace(record, segments=(spec,), reference=reference, characters=request.characters)

    def _extend(self, job_id: str, request: SubmitRequest) -> JobRecord:
        source = self.source(request)
        if request.characters or request.reference is not None:
            raise InvalidRequestError("extensions take neither characters nor an input_reference")
        if source.extensions + 1 > MAX_EXTENSIONS:
            raise InvalidRequestError(
                f"a video can be extended at most {MAX_EXTENSIONS} times", param="video"
            )
        _check_seconds(request.seconds, MAX_TOTAL_SECONDS)
        total = source.total_seconds + request.seconds
        if total > MAX_TOTAL_SECONDS:
            raise InvalidRequestError(
                f"an extended video can be at most {MAX_TOTAL_SECONDS} s long; this one would be "
                f"{total} s",
                param="seconds",
            )
        record = self._base(job_id, request, source.size, request.seconds, total)
        spec = SegmentSpec(
            request.prompt, request.seconds, record.seed, None, True, _label(request)
        )
        return replace(record, segments=(*source.segments, spec), extensions=source.extensions + 1)

    async def _edit(self, job_id: str, request: SubmitRequest) -> JobRecord:
        names = self.character_names(request.characters)
        if request.source_id is not None:
            source = self.source(request)
            size, total, first = source.size, source.total_seconds, source.segments[0]
            reference = first.reference
            if reference is None:
                image = await anyio.to_thread.run_sync(
                    opening_image, first.seed, source.width, source.height
                )
                reference = self.store.save_reference(job_id, await _png(image))
        elif request.source_video is not None:
            clip = await self.clip(request.source_video, param="video")
            size, total = f"{clip.width}x{clip.height}", max(1, round(clip.seconds))
            reference = self.store.save_reference(job_id, await _png(clip.first_frame))
        else:
            raise InvalidRequestError(
                "an edit needs a video: a completed video's id or a file", param="video"
            )
        record = self._base(job_id, request, size, total, total)
        spec = SegmentSpec(
            request.prompt, total, record.seed, reference, False, _label(request), names
        )
        return replace(record, segments=(spec,), reference=reference, characters=request.characters)

    def source(self, request: SubmitRequest) -> JobRecord:
        if not request.source_id:
            raise InvalidRequestError(
                f"a {request.kind} needs the id of a completed video", param="video"
            )
        source = live_job(self.store, request.source_id, param="video")
        state = job_state(source, self.clock())
        if state.status != "completed":
            raise InvalidStateError(
                f"video {source.id} is {state.status}; a {request.kind} needs a completed video"
            )
        return source

    def character_names(self, ids: tuple[str, ...]) -> tuple[str, ...]:
        if len(ids) > MAX_CHARACTERS_PER_VIDEO:
            raise InvalidRequestError(
                f"at most {MAX_CHARACTERS_PER_VIDEO} characters per video", param="characters"
            )
        names = []
        for character_id in ids:
            record = self.store.load_character(character_id)
            if record is None:
                raise NotFoundError(f"no character {character_id!r}", param="characters")
            names.append(record.name)
        return tuple(names)

    async def clip(self, video: SourceVideo, *, param: str) -> Clip:
        try:
            return await anyio.to_thread.run_sync(read_clip, video.data)
        except Exception as exc:  # PyAV raises many kinds; all mean "not a usable video"
            raise MediaError(f"the uploaded video cannot be read: {exc}", param=param) from exc


def _label(request: SubmitRequest) -> str:
    return f"{request.model} · {request.kind}"


def _seed(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _parse_size(size: str) -> tuple[int, int]:
    match = _SIZE.match(size)
    width, height = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or width % 2 or height % 2:
        raise InvalidRequestError(
            f"size must be WIDTHxHEIGHT with even sides up to {MAX_SIDE}, got {size!r}",
            param="size",
        )
    return width, height


def _check_seconds(seconds: int, limit: int) -> None:
    if not 0 < seconds <= limit:
        raise InvalidRequestError(
            f"seconds must be between 1 and {limit}, got {seconds}", param="seconds"
        )


def _check_prompt(prompt: str) -> None:
    if not prompt.strip() or len(prompt) > PROMPT_MAX_LENGTH:
        raise InvalidRequestError(
            f"prompt must have 1 to {PROMPT_MAX_LENGTH} characters", param="prompt"
        )


def _reference_png(reference: ReferenceImage, width: int, height: int) -> bytes:
    """The reference as PNG bytes, if it is an image of exactly the job's size."""
    try:
        with Image.open(io.BytesIO(reference.data)) as image:
            image.load()
            size = image.size
            rgb = image.convert("RGB")
    except Exception as exc:  # Pillow raises many kinds for broken files
        raise ReferenceImageError(
            f"the input_reference cannot be read as an image: {exc}", param="input_reference"
        ) from exc
    if size != (width, height):
        raise InvalidRequestError(
            "Inpaint image must match the requested width and height", param="input_reference"
        )
    out = io.BytesIO()
    rgb.save(out, format="PNG", compress_level=1)
    return out.getvalue()


async def _png(image: Image.Image) -> bytes:
    def encode() -> bytes:
        out = io.BytesIO()
        image.save(out, format="PNG", compress_level=1)
        return out.getvalue()

    return await anyio.to_thread.run_sync(encode)
