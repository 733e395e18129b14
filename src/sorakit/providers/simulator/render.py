"""The simulator's renderer: real H.264 + AAC MP4s, a WebP thumbnail and a JPEG spritesheet.

Speed is the point (every test renders through here): frames are composed in yuv420p directly
inside one reused encoder frame (`paint.Painter`), libx264 runs at `ultrafast`, the audio is a
two-second, exactly periodic tone loop per pitch (cached) sent in half-second blocks to an AAC
encoder whose bandwidth is cut to what the tone uses, and the thumbnail and spritesheet tiles
are taken from frames already in hand, so the MP4 is never decoded again.

Blocking and CPU-bound: async callers run `render` in a worker thread.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from sorakit.providers.simulator.paint import (
    LastFrame,
    Painter,
    backdrop_image,
    planes_of,
    reformatter,
)

logger = logging.getLogger(__name__)

AUDIO_RATE = 48000
SPRITE_TILES = 10
SPRITE_COLUMNS = 5
SPRITE_TILE_LONG_SIDE = 192
THUMBNAIL_LONG_SIDE = 1280
X264_OPTIONS = {"preset": "ultrafast", "crf": "28"}
WEBP_OPTIONS = {"quality": "80", "compression_level": "0"}
AAC_OPTIONS = {"cutoff": "4000"}
"""The tone and its harmonic stay far below 4 kHz; the cut halves the encoder's work."""
_PERIOD = 2 * AUDIO_RATE
_BLOCK = AUDIO_RATE // 2
_FADE = AUDIO_RATE // 200


@dataclass(frozen=True)
class Segment:
    """One stretch of video: what it shows and how long it lasts."""

    prompt: str
    seconds: float
    seed: int
    first_frame: Image.Image | None = None
    """Already the exact frame size; becomes frame 0."""
    continue_previous: bool = False
    """Start from the previous segment's last frame (extensions)."""
    label: str = ""
    """A small caption, e.g. `sora-2 · remix`."""
    characters: tuple[str, ...] = ()
    """Names drawn as badges."""


@dataclass(frozen=True)
class RenderResult:
    """What was written."""

    frames: int
    seconds: float
    video_bytes: int


def segment_frames(seconds: float, fps: int) -> int:
    """Frames a segment of this length gets (at least one)."""
    return max(1, round(seconds * fps))


def render(
    segments: Sequence[Segment],
    width: int,
    height: int,
    video: Path,
    thumbnail: Path,
    spritesheet: Path,
    *,
    fps: int = 24,
    threads: int = 0,
) -> RenderResult:
    """Render the segments back to back into one MP4, plus its thumbnail and spritesheet."""
    if not segments:
        raise ValueError("render needs at least one segment")
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"frame size must be positive and even, got {width}x{height}")
    counts = [segment_frames(s.seconds, fps) for s in segments]
    total = sum(counts)
    stills = _Stills(width, height, total)
    tone = _Tone()
    tmp = _temp_beside(video)
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            vstream = _video_stream(out, width, height, fps, threads)
            astream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono", options=AAC_OPTIONS)
            # libx264 copies the picture inside encode(), so one frame buffer serves every frame.
            frame = av.VideoFrame(width, height, "yuv420p")
            planes = planes_of(frame)
            index = 0
            last: LastFrame | None = None
            for segment, count in zip(segments, counts, strict=True):
                painter = Painter(segment, (width, height), fps, (count, index, total), last)
                tone.start_segment(segment.prompt, _sample(index, fps), _sample(index + count, fps))
                for local in range(count):
                    painter.paint(local, planes)
                    frame.pts = index
                    out.mux(vstream.encode(frame))
                    stills.offer(index, frame)
                    index += 1
                    for block in tone.blocks(_sample(index, fps), force=local == count - 1):
                        out.mux(astream.encode(block))
                last = painter.last
            out.mux(vstream.encode(None))
            out.mux(astream.encode(None))
        os.replace(tmp, video)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    stills.save(thumbnail, spritesheet)
    size = video.stat().st_size
    logger.debug("rendered %s: %d frames, %d bytes", video, total, size)
    return RenderResult(frames=total, seconds=total / fps, video_bytes=size)


def encode_constant(
    width: int, height: int, frames: int, video: Path, *, fps: int = 24, threads: int = 0
) -> None:
    """Encode one constant frame `frames` times with the renderer's video settings.

    The physical limit the renderer is measured against: the encoder's cost alone.
    """
    with av.open(str(video), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vstream = _video_stream(out, width, height, fps, threads)
        frame = av.VideoFrame(width, height, "yuv420p")
        y, u, v = planes_of(frame)
        y[:] = np.linspace(40, 200, width, dtype=np.float32).astype(np.uint8)[None, :]
        u[:], v[:] = 110, 150
        for index in range(frames):
            frame.pts = index
            out.mux(vstream.encode(frame))
        out.mux(vstream.encode(None))


def _video_stream(out: Any, width: int, height: int, fps: int, threads: int) -> Any:
    stream = out.add_stream("libx264", rate=fps, options=X264_OPTIONS)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.thread_count = threads
    return stream


def _sample(frame_index: int, fps: int) -> int:
    return round(frame_index * AUDIO_RATE / fps)


# --- audio --------------------------------------------------------------------------------------


def tone_frequency(prompt: str) -> float:
    """The pitch a prompt plays: one of ten pentatonic notes between 196 and 784 Hz."""
    digest = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")
    note = (0, 2, 4, 7, 9)[digest % 5] + 12 * ((digest // 5) % 2)
    return round(2 * 196.0 * 2 ** (note / 12)) / 2


@functools.lru_cache(maxsize=16)
def _tone_period(frequency: float) -> npt.NDArray[np.float32]:
    """Two seconds of the tone: vibrato (5 Hz), tremolo (0.5 Hz), a soft octave; loops exactly."""
    t = np.arange(_PERIOD, dtype=np.float64) / AUDIO_RATE
    phase = 2 * math.pi * frequency * t - (0.006 * frequency / 5.0) * np.cos(2 * math.pi * 5.0 * t)
    envelope = 0.22 * (0.75 + 0.25 * np.sin(2 * math.pi * 0.5 * t))
    wave: npt.NDArray[np.float32] = (envelope * (np.sin(phase) + 0.3 * np.sin(2 * phase))).astype(
        np.float32
    )
    return wave


class _Tone:
    """The audio track: each segment's tone, faded in and out at its edges, in blocks."""

    def __init__(self) -> None:
        self.sent = 0
        self.start = 0
        self.end = 0
        self.period = _tone_period(440.0)

    def start_segment(self, prompt: str, start: int, end: int) -> None:
        """Play this prompt's tone from sample `start` to `end`."""
        self.period = _tone_period(tone_frequency(prompt))
        self.start, self.end = start, end

    def blocks(self, upto: int, *, force: bool = False) -> Iterator[Any]:
        """Audio frames up to sample `upto`, once a whole block is due (or `force`)."""
        upto = min(upto, self.end)
        while self.sent < upto and (force or upto - self.sent >= _BLOCK):
            n = min(_BLOCK, upto - self.sent)
            yield self._frame(n)

    def _frame(self, n: int) -> Any:
        first = self.sent
        at = np.arange(first, first + n)
        samples = self.period[at % _PERIOD]
        if first < self.start + _FADE or first + n > self.end - _FADE:
            fade_in = np.clip((at - self.start) / _FADE, 0.0, 1.0)
            fade_out = np.clip((self.end - at) / _FADE, 0.0, 1.0)
            samples = (samples * np.minimum(fade_in, fade_out)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = first
        self.sent += n
        return frame


# --- stills -------------------------------------------------------------------------------------


class _Stills:
    """Collects the thumbnail and spritesheet tiles from frames as they go by."""

    def __init__(self, width: int, height: int, total: int) -> None:
        self.thumb_at = total // 2
        count = min(total, SPRITE_TILES)
        self.tiles_at = {round(k * (total - 1) / max(1, count - 1)) for k in range(count)}
        self.thumb_size = _fit_long_side(width, height, THUMBNAIL_LONG_SIDE)
        self.tile_size = _fit_long_side(width, height, SPRITE_TILE_LONG_SIDE)
        self.thumb: bytes | None = None
        self.tiles: list[Image.Image] = []

    def offer(self, index: int, frame: Any) -> None:
        """Keep this frame if it is the thumbnail or one of the tiles."""
        if index == self.thumb_at:
            self.thumb = _webp(frame, self.thumb_size)
        if index in self.tiles_at:
            self.tiles.append(_to_image(frame, self.tile_size))

    def save(self, thumbnail: Path, spritesheet: Path) -> None:
        """Write the WebP thumbnail and the JPEG spritesheet, each atomically."""
        assert self.thumb is not None
        _write_atomic(thumbnail, self.thumb)
        tw, th = self.tile_size
        columns = min(SPRITE_COLUMNS, len(self.tiles))
        rows = math.ceil(len(self.tiles) / columns)
        sheet = Image.new("RGB", (tw * columns, th * rows))
        for n, tile in enumerate(self.tiles):
            sheet.paste(tile, ((n % columns) * tw, (n // columns) * th))
        _save_image(sheet, spritesheet, "JPEG", quality=82)


def _fit_long_side(width: int, height: int, limit: int) -> tuple[int, int]:
    scale = min(1.0, limit / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _to_image(frame: Any, size: tuple[int, int]) -> Image.Image:
    converter = reformatter(("rgb", frame.width, frame.height, *size))
    image: Image.Image = converter.reformat(
        frame, width=size[0], height=size[1], format="rgb24", interpolation="AREA", threads=1
    ).to_image()
    return image


def _webp(frame: Any, size: tuple[int, int]) -> bytes:
    """One frame as a still WebP, encoded by libwebp straight from yuv420p."""
    if (frame.width, frame.height) != size:
        converter = reformatter(("yuv", frame.width, frame.height, *size))
        frame = converter.reformat(
            frame, width=size[0], height=size[1], interpolation="AREA", threads=1
        )
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webp") as out:
        stream = out.add_stream("libwebp", rate=1, options=WEBP_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        still = av.VideoFrame(size[0], size[1], "yuv420p")
        for dst, src in zip(planes_of(still), planes_of(frame), strict=True):
            np.copyto(dst, src)
        still.pts = 0
        out.mux(stream.encode(still))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = _temp_beside(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _save_image(image: Image.Image, path: Path, fmt: str, **options: Any) -> None:
    tmp = _temp_beside(path)
    try:
        image.save(tmp, format=fmt, **options)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """What the simulator needs from an uploaded video: its first frame, size and length."""

    first_frame: Image.Image
    width: int
    height: int
    seconds: float


def read_clip(data: bytes) -> Clip:
    """Decode an uploaded video's first frame (cropped to even sides) and its duration."""
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        first = next(container.decode(stream), None)
        if first is None:
            raise ValueError("the video stream has no frames")
        image = Image.fromarray(first.to_ndarray(format="rgb24"))
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / 1_000_000
        else:
            seconds = 0.0
    width, height = image.width - image.width % 2, image.height - image.height % 2
    if width < 2 or height < 2:
        raise ValueError("the video's frames are too small")
    image = image.crop((0, 0, width, height))
    return Clip(first_frame=image, width=width, height=height, seconds=seconds)


def opening_image(seed: int, width: int, height: int) -> Image.Image:
    """The first frame a segment without a reference opens on (its seed's backdrop)."""
    return backdrop_image(width, height, np.random.default_rng(seed))
