"""Shared PyAV plumbing: opening inputs safely, writing outputs atomically, frame conversion.

Every output is written to a temporary file in the destination folder and renamed into place
only after it has been closed and checked, so a crash or an error never leaves a half-written
file under the name the caller asked for. MP4/MOV outputs always get `movflags=+faststart` (the
index goes first, so a browser can start playing before the whole file has arrived).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeAlias

import av
import av.error
import numpy as np
from av.container import InputContainer, OutputContainer
from PIL import Image

from sorakit.errors import MediaError

logger = logging.getLogger(__name__)

MP4_OPTIONS = {"movflags": "+faststart"}

Packet: TypeAlias = "av.Packet[Any]"
"""A demuxed or encoded packet (PyAV's class is generic in its stream type)."""


def as_path(path: str | os.PathLike[str]) -> Path:
    """The argument as a `Path`."""
    return Path(path)


@contextlib.contextmanager
def open_input(path: str | os.PathLike[str]) -> Iterator[InputContainer]:
    """Open a media file for reading; any problem becomes a `MediaError` naming the file."""
    p = as_path(path)
    if not p.is_file():
        raise MediaError(f"{p}: no such file", param="path")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: the file is empty", param="path")
    try:
        container = av.open(str(p), "r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{p}: not a readable media file ({_reason(exc)})", param="path") from exc
    try:
        yield container
    except av.error.FFmpegError as exc:
        raise MediaError(f"{p}: cannot be decoded ({_reason(exc)})", param="path") from exc
    finally:
        container.close()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip() or type(exc).__name__


def open_output(path: Path) -> OutputContainer:
    """Open an output container; MP4-family outputs get faststart."""
    options = MP4_OPTIONS if path.suffix.lower() in {".mp4", ".mov", ".m4v", ".m4a"} else {}
    fmt = "mp4" if path.suffix.lower() == ".tmp" else None
    return av.open(str(path), "w", format=fmt, options=dict(options))


@contextlib.contextmanager
def atomic_output(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `dest` (same suffix); rename it into place on success."""
    target = as_path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def to_image(frame: av.VideoFrame, *, autorotate: bool = True) -> Image.Image:
    """An RGB Pillow image of a decoded frame, turned upright by its display matrix."""
    image = Image.fromarray(frame.to_ndarray(format="rgb24"))
    if autorotate:
        rotation = frame.rotation % 360
        if rotation:
            # The display matrix angle is counter-clockwise, as is Pillow's rotate().
            image = image.rotate(rotation, expand=True)
    return image


def rotate_array(array: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate an HxWxC array counter-clockwise by a multiple of 90 degrees."""
    turns = (rotation % 360) // 90
    return np.ascontiguousarray(np.rot90(array, turns)) if turns else array


def seconds(value: int | None, time_base: Fraction | None) -> Fraction | None:
    """A timestamp in seconds, or None when either part is unknown."""
    if value is None or time_base is None:
        return None
    return value * time_base
