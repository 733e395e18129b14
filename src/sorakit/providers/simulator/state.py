"""The simulator's persistent state: it stands in for a remote service, so its jobs outlive us.

Layout under `settings.simulator_dir`::

    jobs/<id>.json            one record per job, replaced atomically (temp file + os.replace)
    jobs/<id>.png             the job's reference image, if it has one
    characters/<id>.json      one record per character
    idempotency/<sha256(key)> the id of the job made with that key; created once, with its
                              content, by hard-linking a temp file (fails if it exists), so two
                              concurrent creates with one key make one job
    creates.log               one line per job actually created (tests count creates with it)
    media/<id>/               video.mp4, thumbnail.webp, spritesheet.jpg, rendered lazily
    locks/<id>.lock           flock'ed while a job renders (released by the OS if we die)

A job's status is a pure function of its record and the clock (`job_state`), so a job goes on
"rendering" while no process runs, exactly as a remote job would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeAlias

from sorakit.ids import is_safe_id
from sorakit.providers.base import JobKind
from sorakit.wire.videos import VideoStatus

logger = logging.getLogger(__name__)

ProgressCurve: TypeAlias = Literal["linear", "ease", "stall"]

MODERATION_CODE = "moderation_blocked"
MODERATION_MESSAGE = "Your request was blocked by our moderation system."
MODERATION_MARKER = "[[moderation_blocked]]"
"""A prompt containing this fails with `moderation_blocked`, every time."""
QUEUED_FRACTION = 0.1
"""The share of the render time a job spends queued."""
_STALL_AT = 0.3


@dataclass(frozen=True)
class FailPlan:
    """When (as a fraction of the render time) and how a job will fail."""

    fraction: float
    code: str = MODERATION_CODE
    message: str = MODERATION_MESSAGE


@dataclass(frozen=True)
class SegmentSpec:
    """One segment of a job's video, as the renderer will draw it."""

    prompt: str
    seconds: float
    seed: int
    reference: str | None = None
    """File name (in `jobs/`) of the image that becomes the segment's first frame."""
    continue_previous: bool = False
    label: str = ""
    characters: tuple[str, ...] = ()
    """Character names, drawn as badges."""


@dataclass(frozen=True)
class JobRecord:
    """Everything the simulator knows about one job."""

    id: str
    kind: JobKind
    model: str
    prompt: str
    size: str
    seconds: int
    """The job's own seconds (for an extension: the seconds it added)."""
    total_seconds: int
    """The video's length (for an extension: the stitched total)."""
    created_at: float
    render_seconds: float
    progress_curve: ProgressCurve
    seed: int
    idempotency_key: str
    segments: tuple[SegmentSpec, ...]
    source_id: str | None = None
    reference: str | None = None
    characters: tuple[str, ...] = ()
    """Character ids."""
    extensions: int = 0
    """How many extensions led to this video."""
    fail: FailPlan | None = None
    deleted: bool = False
    mask: str | None = None
    """File name (in `jobs/`) of an image edit's mask."""
    output_format: str = "png"
    """An image job's file format."""

    @property
    def width(self) -> int:
        return int(self.size.split("x")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("x")[1])

    def to_json(self) -> str:
        """The record as JSON."""
        return json.dumps({"version": 1, **asdict(self)}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        """Read a record written by `to_json`."""
        raw: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {key: value for key, value in raw.items() if key in known}  # newer fields: ignored
        data["segments"] = tuple(
            SegmentSpec(**{**s, "characters": tuple(s.get("characters", ()))})
            for s in data["segments"]
        )
        data["characters"] = tuple(data.get("characters", ()))
        data["fail"] = FailPlan(**data["fail"]) if data.get("fail") else None
        return cls(**data)


@dataclass(frozen=True)
class CharacterRecord:
    """A character made from a clip."""

    id: str
    name: str
    created_at: int


@dataclass(frozen=True)
class JobState:
    """A job's state at one moment."""

    status: VideoStatus
    progress: int
    finished_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    remaining: float = 0.0
    """Seconds until the job finishes (0 once it has)."""


def curve_progress(curve: ProgressCurve, x: float) -> float:
    """How far along (0 to 1) a render is at `x` (0 to 1) of its in-progress time."""
    x = min(1.0, max(0.0, x))
    if curve == "ease":
        return x * x
    if curve == "stall":
        return 0.9 * min(1.0, x / _STALL_AT)
    return x


def _progress_at(record: JobRecord, fraction: float) -> int:
    if fraction < QUEUED_FRACTION:
        return 0
    x = (fraction - QUEUED_FRACTION) / (1 - QUEUED_FRACTION)
    return min(99, max(1, int(curve_progress(record.progress_curve, x) * 100)))


def job_state(record: JobRecord, now: float) -> JobState:
    """The job's status, progress and finish time at `now`: a pure function of the two."""
    duration = record.render_seconds
    fraction = 1.0 if duration <= 0 else max(0.0, now - record.created_at) / duration
    if record.fail is not None and fraction >= record.fail.fraction:
        return JobState(
            status="failed",
            progress=_progress_at(record, record.fail.fraction),
            finished_at=record.created_at + record.fail.fraction * duration,
            error_code=record.fail.code,
            error_message=record.fail.message,
        )
    if fraction >= 1.0:
        return JobState("completed", 100, finished_at=record.created_at + duration)
    end = min(1.0, record.fail.fraction) if record.fail is not None else 1.0
    remaining = (end - fraction) * duration
    status: VideoStatus = "queued" if fraction < QUEUED_FRACTION else "in_progress"
    return JobState(status, _progress_at(record, fraction), remaining=remaining)


def new_job_id() -> str:
    """A fresh job id: `sim_` and 24 hex digits."""
    return "sim_" + secrets.token_hex(12)


def new_character_id() -> str:
    """A fresh character id: `char_` and 24 hex digits."""
    return "char_" + secrets.token_hex(12)


@dataclass(frozen=True)
class MediaFiles:
    """Where a job's rendered files live."""

    video: Path
    thumbnail: Path
    spritesheet: Path

    def complete(self) -> bool:
        """Whether all three exist (each is renamed into place only when whole)."""
        return self.video.is_file() and self.thumbnail.is_file() and self.spritesheet.is_file()

    def path(self, variant: str) -> Path:
        """The file of one content variant."""
        return {"video": self.video, "thumbnail": self.thumbnail, "spritesheet": self.spritesheet}[
            variant
        ]


@dataclass
class SimulatorStore:
    """The files under `simulator_dir`; every method is blocking and quick (small files)."""

    root: Path
    jobs: Path = field(init=False)
    characters: Path = field(init=False)
    idempotency: Path = field(init=False)
    media: Path = field(init=False)
    locks: Path = field(init=False)
    creates_log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = self.root / "jobs"
        self.characters = self.root / "characters"
        self.idempotency = self.root / "idempotency"
        self.media = self.root / "media"
        self.locks = self.root / "locks"
        self.creates_log = self.root / "creates.log"
        for folder in (self.jobs, self.characters, self.idempotency, self.media, self.locks):
            folder.mkdir(parents=True, exist_ok=True)

    # jobs

    def load_job(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if there is no such job."""
        if not _safe_id(job_id):
            return None
        try:
            return JobRecord.from_json((self.jobs / f"{job_id}.json").read_text("utf-8"))
        except FileNotFoundError:
            return None

    def save_job(self, record: JobRecord) -> None:
        """Write (or replace) the job's record atomically."""
        _write_atomic(self.jobs / f"{record.id}.json", record.to_json().encode("utf-8"))

    def mark_deleted(self, record: JobRecord) -> JobRecord:
        """Flag the job deleted; its record stays (extensions of it still render)."""
        deleted = replace(record, deleted=True)
        self.save_job(deleted)
        return deleted

    def discard_job(self, job_id: str) -> None:
        """Remove a record (and its reference) that never became a job: it lost a key race."""
        (self.jobs / f"{job_id}.json").unlink(missing_ok=True)
        (self.jobs / f"{job_id}.png").unlink(missing_ok=True)
        (self.jobs / f"{job_id}.mask.png").unlink(missing_ok=True)

    def reference_path(self, name: str) -> Path:
        """The path of a reference image stored beside the records."""
        return self.jobs / name

    def save_reference(self, job_id: str, png: bytes) -> str:
        """Store a job's reference image (PNG bytes); returns its file name."""
        name = f"{job_id}.png"
        _write_atomic(self.jobs / name, png)
        return name

    # idempotency

    def claim_key(self, key: str, job_id: str) -> str:
        """Bind `key` to `job_id` unless it is bound already; returns the job it is bound to."""
        path = self._key_path(key)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(job_id, "utf-8")
        try:
            os.link(tmp, path)
            return job_id
        except FileExistsError:
            return self._read_key(path) or job_id
        except OSError:  # no hard links on this file system: exclusive create, then write
            return self._claim_exclusive(path, job_id)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def job_for_key(self, key: str) -> str | None:
        """The id of the job made with this idempotency key, if any."""
        return self._read_key(self._key_path(key))

    def _key_path(self, key: str) -> Path:
        return self.idempotency / hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _read_key(self, path: Path) -> str | None:
        try:
            return path.read_text("utf-8").strip() or None
        except FileNotFoundError:
            return None

    def _claim_exclusive(self, path: Path, job_id: str) -> str:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return self._read_key(path) or job_id
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(job_id)
        return job_id

    def log_create(self, record: JobRecord) -> None:
        """Append the job to `creates.log` (one line per job actually created)."""
        key = hashlib.sha256(record.idempotency_key.encode("utf-8")).hexdigest()[:16]
        line = f"{record.created_at:.6f} {record.id} {record.kind} {key}\n".encode()
        fd = os.open(self.creates_log, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def created_ids(self) -> list[str]:
        """The ids in `creates.log`, in order."""
        try:
            lines = self.creates_log.read_text("utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line.split()[1] for line in lines if line.strip()]

    # characters

    def save_character(self, record: CharacterRecord) -> None:
        """Write a character's record atomically."""
        _write_atomic(self.characters / f"{record.id}.json", json.dumps(asdict(record)).encode())

    def load_character(self, character_id: str) -> CharacterRecord | None:
        """A character's record, or None."""
        if not _safe_id(character_id):
            return None
        try:
            data = json.loads((self.characters / f"{character_id}.json").read_text("utf-8"))
        except FileNotFoundError:
            return None
        return CharacterRecord(**data)

    # media

    def media_files(self, job_id: str) -> MediaFiles:
        """The paths of a job's rendered files (which may not exist yet)."""
        folder = self.media / job_id
        return MediaFiles(
            folder / "video.mp4", folder / "thumbnail.webp", folder / "spritesheet.jpg"
        )

    def remove_media(self, job_id: str) -> None:
        """Delete a job's rendered files."""
        shutil.rmtree(self.media / job_id, ignore_errors=True)

    @contextlib.contextmanager
    def render_lock(self, job_id: str) -> Iterator[None]:
        """Hold the job's cross-process render lock (blocking; run it in a thread)."""
        path = self.locks / f"{job_id}.lock"
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            _lock(fd)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: renames stay atomic, work may repeat
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _safe_id(value: str) -> bool:
    """An id fit to be a file's name (an overlong one is no id: "File name too long")."""
    return bool(value) and is_safe_id(value)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
