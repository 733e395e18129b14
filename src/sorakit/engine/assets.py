"""Archiving a job's files: stream to a temporary file, check, then rename into place.

Memory stays flat: chunks go straight to disk while a sha256 runs over them. A file is renamed
to its final name only when it is complete (the announced size, if any, matches) and sound (an
MP4 demuxes to as many video packets as its index promises; an image decodes). A truncated
download therefore never becomes an asset; it raises `ContentDownloadError`, which is retried.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import av
from PIL import Image

from sorakit.errors import ContentDownloadError
from sorakit.media import atomic_output
from sorakit.providers.base import Download

logger = logging.getLogger(__name__)

EXTENSIONS = {
    "video": "mp4",
    "thumbnail": "webp",
    "spritesheet": "jpg",
    "reference": "png",
    "last_frame": "png",
    "source": "mp4",
    "mask": "png",
}
IMAGE_EXTENSIONS = ("png", "jpg", "webp")
"""The file extensions of an image job's image."""
REFERENCE_IMAGE_PREFIX = "reference_image_"
"""Subject and style images are archived as `reference_image_1.png`, `_2`, ..."""


@dataclass(frozen=True)
class StoredFile:
    """A checked file in its final place."""

    path: Path
    size: int
    sha256: str
    media_type: str


def png_size(data: bytes) -> tuple[int, int]:
    """The width and height of a PNG from its header (other formats are decoded)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def asset_path(
    assets_dir: Path, job_id: str, variant: str, options: Mapping[str, Any] | None = None
) -> Path:
    """Where a job's variant lives (an image job's `image` by its `output_format` option)."""
    if variant == "image":
        extension = {"jpeg": "jpg"}.get(fmt := str((options or {}).get("output_format")), fmt)
        return (
            assets_dir / job_id / f"image.{extension if extension in IMAGE_EXTENSIONS else 'png'}"
        )
    extension = EXTENSIONS.get(variant) or (
        "png" if variant.startswith(REFERENCE_IMAGE_PREFIX) else "bin"
    )
    return assets_dir / job_id / f"{variant}.{extension}"


def check_video(path: Path) -> None:
    """Raise ContentDownloadError unless the MP4 holds every video packet its index announces."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ContentDownloadError("the downloaded file has no video stream")
            stream = container.streams.video[0]
            announced = stream.frames
            count = 0
            for packet in container.demux(stream):
                if packet.size:
                    count += 1
    except ContentDownloadError:
        raise
    except Exception as exc:  # PyAV raises a zoo of errors on a cut file
        raise ContentDownloadError(f"the downloaded video is damaged: {exc}") from exc
    if announced and count < announced:
        raise ContentDownloadError(
            f"the downloaded video is truncated ({count} of {announced} frames)"
        )
    if count == 0:
        raise ContentDownloadError("the downloaded video has no frames")


def check_image(path: Path) -> None:
    """Raise ContentDownloadError unless the image decodes completely."""
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as exc:
        raise ContentDownloadError(f"the downloaded image is damaged: {exc}") from exc


WRITE_BUFFER = 1024 * 1024
"""Bytes gathered before one hash-and-write in a worker thread (a thread hop per 64 KiB chunk
costs more than the write itself)."""


async def store_download(download: Download, destination: Path) -> StoredFile:
    """Stream a download to `destination`, checked, atomically; never leaves a partial file."""
    digest = hashlib.sha256()
    size = 0
    with atomic_output(destination) as temporary:
        with open(temporary, "wb") as out:

            def write(block: bytes) -> None:
                digest.update(block)
                out.write(block)

            pending: list[bytes] = []
            buffered = 0
            async for chunk in download.chunks:
                pending.append(chunk)
                buffered += len(chunk)
                size += len(chunk)
                if buffered >= WRITE_BUFFER:
                    await anyio.to_thread.run_sync(write, b"".join(pending))
                    pending, buffered = [], 0
            if pending:
                await anyio.to_thread.run_sync(write, b"".join(pending))
            await anyio.to_thread.run_sync(_sync_to_disk, out)
        if download.expected_size is not None and size != download.expected_size:
            raise ContentDownloadError(
                f"download truncated: {size} of {download.expected_size} bytes arrived"
            )
        if size == 0:
            raise ContentDownloadError("download was empty")
        checker = check_video if destination.suffix == ".mp4" else check_image
        await anyio.to_thread.run_sync(checker, temporary)
    return StoredFile(destination, size, digest.hexdigest(), download.media_type)


def _sync_to_disk(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


async def store_bytes(data: bytes, destination: Path, media_type: str) -> StoredFile:
    """Write small bytes (a reference image) atomically."""

    def write() -> None:
        with atomic_output(destination) as temporary:
            temporary.write_bytes(data)

    await anyio.to_thread.run_sync(write)
    return StoredFile(destination, len(data), hashlib.sha256(data).hexdigest(), media_type)
