"""The Library's zip export: each selected MP4 and a `jobs.json` manifest, in bounded memory.

The zip is written by the stdlib's `zipfile` in a worker thread into an unnamed temporary file
in SORAKIT_HOME (on the assets' disk, not a tmpfs /tmp that would hold it in memory), stored
rather than deflated since MP4s are already compressed, then streamed out in chunks. Writing it
whole first means a missing file is a readable refusal before any byte is sent, and the
response carries its length, so the browser shows real download progress.
"""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Any

import anyio
from fastapi.responses import StreamingResponse

from sorakit.errors import NotFoundError
from sorakit.ledger import JobRecord, JobStatus

CHUNK_BYTES = 256 * 1024
MAX_SELECTION = 100
"""Videos one export may hold (four pages of the gallery)."""
MANIFEST = "jobs.json"


def manifest_entry(job: JobRecord) -> dict[str, Any]:
    """What the manifest says of a job: what was asked, what it cost, its files' checksums."""
    enhanced = job.options.get("enhanced") or {}
    video = job.assets.get("video") if job.status is JobStatus.COMPLETED else None
    return {
        "id": job.id,
        "status": job.status.value,
        "prompt": job.prompt,
        "prompt_before_enhancement": enhanced.get("original"),
        "model": job.model,
        "provider": job.provider,
        "provider_model": job.provider_model,
        "seconds": job.total_seconds,
        "size": job.size,
        "created_at": job.created_at,
        "completed_at": job.completed_at,
        "estimated_cost": job.estimated_cost,
        "cost": job.cost,
        "file": f"{job.id}.mp4" if video else None,
        "files": {
            variant: {"size": asset.size, "sha256": asset.sha256, "media_type": asset.media_type}
            for variant, asset in sorted(job.assets.items())
        },
    }


def _write_zip(jobs: Sequence[JobRecord], out: IO[bytes]) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for job in jobs:
            video = job.assets.get("video")
            if job.status is JobStatus.COMPLETED and video is not None:
                archive.write(video.path, f"{job.id}.mp4")
        manifest = json.dumps([manifest_entry(job) for job in jobs], indent=2, ensure_ascii=False)
        archive.writestr(MANIFEST, manifest, compress_type=zipfile.ZIP_DEFLATED)


def _missing(jobs: Sequence[JobRecord]) -> list[str]:
    """Jobs whose archived MP4 is gone from this server's disk."""
    return [
        job.id
        for job in jobs
        if job.status is JobStatus.COMPLETED
        and "video" in job.assets
        and not Path(job.assets["video"].path).is_file()
    ]


async def zip_response(jobs: Sequence[JobRecord], home: Path) -> StreamingResponse:
    """The zip of `jobs` as a download; `NotFoundError` when a video's file is missing."""
    missing = await anyio.to_thread.run_sync(_missing, jobs)
    if missing:
        raise NotFoundError(
            f"The file of {', '.join(missing[:5])} is missing on this server; export without it.",
            param="ids",
        )
    home.mkdir(parents=True, exist_ok=True)
    out = tempfile.TemporaryFile(dir=home)  # noqa: SIM115 (closed by the stream below)
    try:
        await anyio.to_thread.run_sync(_write_zip, jobs, out)
        size = out.tell()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    name = time.strftime("sorakit-library-%Y%m%d-%H%M%S.zip", time.gmtime())
    return StreamingResponse(
        _chunks(out),
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "content-length": str(size),
            "cache-control": "no-store",
        },
    )


async def _chunks(out: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(out.read, CHUNK_BYTES):
            yield chunk
    finally:
        out.close()
