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
import secrets
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


NO_DECODE = {"skip_frame": "all"}
"""Codec options that keep `avformat_find_stream_info` from decoding frames (a third of an open)."""


@contextlib.contextmanager
def open_input(path: str | os.PathLike[str], *, decoders: bool = True) -> Iterator[InputContainer]:
    """Open a media file for reading; any problem becomes a `MediaError` naming the file.

    `decoders=False` is for demux-only work (stream copy, packet scans): an MP4/MOV file, whose
    sample tables store every timestamp, is opened without decoding any frame, so its streams'
    pixel format is unknown until a frame is decoded.
    """
    p = as_path(path)
    if not p.is_file():
        raise MediaError(f"{p}: no such file", param="path")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: the file is empty", param="path")
    try:
        container = _open(p, decoders)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{p}: not a readable media file ({_reason(exc)})", param="path") from exc
    try:
        yield container
    except av.error.FFmpegError as exc:
        raise MediaError(f"{p}: cannot be decoded ({_reason(exc)})", param="path") from exc
    finally:
        container.close()


def _open(path: Path, decoders: bool) -> InputContainer:
    if not decoders:
        with contextlib.suppress(ValueError):  # a format whose streams appear only once probed
            per_stream: Any = [NO_DECODE] * 16  # PyAV's stub says list[str]; it takes dicts
            container: InputContainer = av.open(str(path), "r", stream_options=per_stream)
            if container.format.name.startswith("mov,"):
                return container
            # Other containers (Matroska, MPEG-TS) may not store dts: FFmpeg derives it from the
            # reorder delay that only decoding frames reveals, so open them the usual way.
            container.close()
    return av.open(str(path), "r")


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
    """Yield a temporary path beside `dest` (same suffix); rename it into place on success.

    The file is made with mode 0666 less the umask, as `open()` would: `mkstemp`'s 0600 would
    leave every video, preview and still unreadable to other users and to a web server.
    """
    target = as_path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(6)}{target.suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:  # pragma: no cover - a 48-bit name collision
            continue
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


def round_div(num: int, den: int) -> int:
    """`round(Fraction(num, den))` (halves to even) without building a Fraction; `den` > 0."""
    if den == 1:
        return num
    quotient, rest = divmod(num, den)
    twice = 2 * rest
    if twice > den or (twice == den and quotient % 2):
        quotient += 1
    return quotient


class Rescale:
    """`round((value - origin) * scale + offset)` in integers, for one range of one stream."""

    def __init__(self, origin: int, scale: Fraction, offset: Fraction) -> None:
        self.origin = origin
        self.mul = scale.numerator * offset.denominator
        self.add = offset.numerator * scale.denominator
        self.den = scale.denominator * offset.denominator
        self.dur_num, self.dur_den = scale.numerator, scale.denominator

    def __call__(self, value: int) -> int:
        """The rescaled timestamp."""
        return round_div((value - self.origin) * self.mul + self.add, self.den)

    def duration(self, value: int) -> int:
        """A duration rescaled (no origin or offset); 0 stays 0."""
        return round_div(value * self.dur_num, self.dur_den) if value else 0
