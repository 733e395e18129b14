"""Test clips made with PyAV (numbered frames, a tone per clip, chosen sizes, rates, GOPs) and checks."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MakeClip = Callable[..., Path]


def frame_pattern(index: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB frame that differs clearly from its neighbours (a moving bar over a colour ramp)."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    image[..., 0] = ramp[None, :].astype(np.uint8)
    image[..., 1] = (index * 37 + seed * 91) % 256
    image[..., 2] = np.linspace(0, 255, height, dtype=np.float32)[:, None].astype(np.uint8)
    bar = max(4, width // 16)
    x = (index * bar) % max(1, width - bar)
    image[:, x : x + bar] = 255
    return image


def write_clip(
    path: Path,
    *,
    size: tuple[int, int] = (320, 180),
    fps: int | Fraction = 24,
    seconds: float = 1.0,
    frames: int | None = None,
    audio: bool = True,
    gop: int | None = None,
    rate: int = 48_000,
    pix_fmt: str = "yuv420p",
    rotate: int | None = None,
    codec: str = "libx264",
    seed: int = 0,
    tone: float = 440.0,
    amplitude: float = 0.1,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a small MP4 with PyAV (x264 defaults unless `options` says otherwise)."""
    fps = Fraction(fps)
    count = frames if frames is not None else round(seconds * fps)
    out = av.open(str(path), "w", options={"movflags": "+faststart"})
    video = out.add_stream(codec, rate=fps, options=options or {})
    video.width, video.height = size
    video.pix_fmt = pix_fmt
    if gop:
        video.codec_context.gop_size = gop
        video.codec_context.options = {
            **(options or {}),
            "sc_threshold": "0",
            "keyint_min": str(gop),
        }
    if rotate:
        video.set_display_rotation(rotate)
    stream = None
    if audio:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "stereo"
    for index in range(count):
        frame = av.VideoFrame.from_ndarray(frame_pattern(index, *size, seed=seed), format="rgb24")
        frame.pts = index
        frame.time_base = 1 / fps
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    if stream is not None:
        samples = round(count / fps * rate)
        t = np.arange(samples, dtype=np.float64) / rate
        wave = (amplitude * np.sin(2 * np.pi * tone * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    out.close()
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of a file as RGB arrays (a full decode, the reference for exactness)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def count_frames(path: Path) -> int:
    """Decoded video frames of a file, failing on any decode error."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
