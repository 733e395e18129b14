"""Exports: short WebM/GIF previews and a zip of a session's outputs.

(Every MP4 this package writes already carries `movflags=+faststart`; see `_av.open_output`.)
Previews are silent and small on purpose: they are for a glance in a browser or a chat, not for
playback. GIFs are assembled with Pillow at up to 12 fps, which keeps them a sensible size.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from sorakit.errors import MediaError
from sorakit.media._av import as_path, atomic_output, open_input, open_output, to_image
from sorakit.media.probe import probe

logger = logging.getLogger(__name__)

PreviewFormat = Literal["webm", "gif"]
GIF_MAX_FPS = 12


def _size(width: int, src: tuple[int, int]) -> tuple[int, int]:
    height = round(src[1] * width / src[0])
    return max(2, width // 2 * 2), max(2, height // 2 * 2)


def preview(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    format: PreviewFormat | None = None,
    seconds: float = 3.0,
    width: int = 320,
) -> Path:
    """Write a silent preview of the first `seconds` of `src`, `width` pixels wide."""
    fmt = format or ("gif" if as_path(dest).suffix.lower() == ".gif" else "webm")
    if fmt not in ("webm", "gif"):
        raise MediaError(f"unknown preview format {fmt!r}", param="format", allowed=("webm", "gif"))
    if seconds <= 0 or width <= 0:
        raise MediaError("preview length and width must be positive", param="seconds")
    info = probe(src)
    assert info.video is not None
    size = _size(width, info.video.display_size)
    fps = info.video.frame_rate
    with atomic_output(dest) as tmp:
        if fmt == "gif":
            _gif(info.path, tmp, size, fps, seconds)
        else:
            _webm(info.path, tmp, size, fps, seconds)
        with open_input(tmp) as check:
            if next(check.decode(video=0), None) is None:
                raise MediaError(f"the preview of {src} has no frames")
    return as_path(dest)


def _frames(src: Path, seconds: float, step: int = 1) -> list[av.VideoFrame]:
    frames = []
    with open_input(src) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            if frame.time is not None and frame.time >= seconds:
                break
            if index % step == 0:
                frames.append(frame)
    return frames


def _webm(src: Path, dest: Path, size: tuple[int, int], fps: Fraction, seconds: float) -> None:
    out = open_output(dest.with_suffix(".webm")) if dest.suffix != ".webm" else open_output(dest)
    try:
        stream = out.add_stream(
            "libvpx", rate=fps, options={"deadline": "realtime", "cpu-used": "8"}
        )
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.bit_rate = 400_000
        for index, frame in enumerate(_frames(src, seconds)):
            image = to_image(frame).resize(size)
            scaled = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24").reformat(
                format="yuv420p"
            )
            scaled.pts = index
            scaled.time_base = 1 / fps
            for packet in stream.encode(scaled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    finally:
        out.close()


def _gif(src: Path, dest: Path, size: tuple[int, int], fps: Fraction, seconds: float) -> None:
    step = max(1, round(fps / GIF_MAX_FPS))
    images = [to_image(frame).resize(size) for frame in _frames(src, seconds, step)]
    if not images:
        raise MediaError(f"{src}: no frames to preview")
    duration = round(1000 * step / fps)
    images[0].save(dest, "GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)


def zip_outputs(paths: Sequence[str | os.PathLike[str]], dest: str | os.PathLike[str]) -> Path:
    """Zip files (stored, not deflated: media is already compressed); names are made unique."""
    seen: set[str] = set()
    with atomic_output(dest) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for item in paths:
            path = as_path(item)
            if not path.is_file():
                raise MediaError(f"{path}: no such file to zip", param="paths")
            name, number = path.name, 1
            while name in seen:
                number += 1
                name = f"{path.stem}-{number}{path.suffix}"
            seen.add(name)
            archive.write(path, name)
    return as_path(dest)
