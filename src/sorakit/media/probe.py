"""Probe a media file into frozen, typed records, and decide whether two clips can be stream-copied.

`probe` demuxes every video packet (no decoding, so it is cheap) to count frames exactly, find the
keyframes in display order and tell constant from variable frame rate, and decodes the first frame
only (its packet alone, drained at once), to prove the stream decodes and to read the display matrix (phone videos are often stored
sideways with a rotation flag). A file whose header promises more frames than it holds is reported
as truncated instead of being joined into a silent bad file.

`can_stream_copy` compares everything a single MP4 track must share, including the decoder
configuration (H.264 SPS/PPS): clips that agree on codec, size and rate but were encoded with
different settings would otherwise decode with the wrong parameter sets after a copy join.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from sorakit.errors import MediaError
from sorakit.media._av import as_path, open_input

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoStreamInfo:
    """The first video stream of a file."""

    codec: str
    profile: str | None
    width: int
    height: int
    pix_fmt: str
    frame_rate: Fraction
    constant_frame_rate: bool
    frames: int
    duration: float
    rotation: int
    time_base: Fraction
    keyframes: tuple[int, ...]
    """Display-order indices of the frames that start a GOP."""
    codec_config: str
    """Digest of the decoder configuration (H.264 SPS/PPS); equal digests can share one track."""

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown, after the display rotation."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class AudioStreamInfo:
    """The first audio stream of a file."""

    codec: str
    profile: str | None
    sample_rate: int
    channels: int
    layout: str
    duration: float
    codec_config: str


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` found in a media file."""

    path: Path
    format: str
    duration: float
    size_bytes: int
    video: VideoStreamInfo | None
    audio: AudioStreamInfo | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (fractions as strings)."""
        data = asdict(self)
        data["path"] = str(self.path)
        for stream in ("video", "audio"):
            if data[stream] is None:
                continue
            for key, value in data[stream].items():
                if isinstance(value, Fraction):
                    data[stream][key] = str(value)
                elif isinstance(value, tuple):
                    data[stream][key] = list(value)
        return data


def probe(path: str | os.PathLike[str], *, require_video: bool = True) -> MediaInfo:
    """Probe a file; `MediaError` for an empty, truncated or non-media file or one without video."""
    p = as_path(path)
    with open_input(p, decoders=False) as container:
        fmt = container.format.name
        duration = container.duration / 1_000_000 if container.duration else 0.0
        video = _video_info(p, container) if container.streams.video else None
        audio = _audio_info(container) if container.streams.audio else None
    if video is None and require_video:
        raise MediaError(f"{p}: has no video stream", param="path")
    if video is not None:
        duration = max(duration, video.duration)
    return MediaInfo(p, fmt, duration, p.stat().st_size, video, audio)


def _video_info(path: Path, container: Any) -> VideoStreamInfo:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    time_base: Fraction = stream.time_base or Fraction(1, 90_000)
    first = _first_frame(path, container, stream)
    rotation = int(first.rotation) % 360
    container.seek(0, stream=stream, backward=True)
    entries: list[tuple[int, bool, int]] = []
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        entries.append((packet.pts, packet.is_keyframe, packet.duration or 0))
    entries.sort()
    if not entries:
        raise MediaError(f"{path}: the video stream holds no frames", param="path")
    declared = stream.frames
    if declared and len(entries) < declared:
        raise MediaError(
            f"{path}: truncated (the header lists {declared} frames, only {len(entries)} are present)",
            param="path",
        )
    deltas = [b[0] - a[0] for a, b in zip(entries, entries[1:], strict=False)]
    cfr = len(set(deltas)) <= 1
    rate = stream.average_rate or stream.guessed_rate
    if deltas and (rate is None or not cfr):
        rate = Fraction(len(deltas), 1) / (Fraction(entries[-1][0] - entries[0][0]) * time_base)
        rate = rate.limit_denominator(1001)
    if rate is None:
        rate = Fraction(24)
    step = sorted(deltas)[len(deltas) // 2] if deltas else (entries[-1][2] or 0)
    span = entries[-1][0] + (entries[-1][2] or step) - entries[0][0]
    duration = float(span * time_base) if span > 0 else float(len(entries) / rate)
    return VideoStreamInfo(
        codec=ctx.name,
        profile=stream.profile,
        width=ctx.width,
        height=ctx.height,
        pix_fmt=first.format.name,
        frame_rate=Fraction(rate),
        constant_frame_rate=cfr,
        frames=len(entries),
        duration=duration,
        rotation=rotation,
        time_base=time_base,
        keyframes=tuple(i for i, entry in enumerate(entries) if entry[1]),
        codec_config=codec_config(ctx.name, ctx.extradata),
    )


def _first_frame(path: Path, container: Any, stream: Any) -> av.VideoFrame:
    """The first decoded frame: its packet alone, drained at once (no wait for reordering)."""
    ctx = stream.codec_context
    for packet in container.demux(stream):
        if packet.size:
            decoded = list(ctx.decode(packet)) or list(ctx.decode(None))
            ctx.flush_buffers()
            if decoded:
                frame: av.VideoFrame = decoded[0]
                return frame
        break
    container.seek(0, stream=stream, backward=True)
    for frame in container.decode(stream):  # the first packet needs others (an open GOP)
        return frame
    raise MediaError(f"{path}: the video stream has no decodable frame", param="path")


def _audio_info(container: Any) -> AudioStreamInfo:
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    tb = stream.time_base or Fraction(1, ctx.sample_rate or 1)
    duration = float(stream.duration * tb) if stream.duration else 0.0
    return AudioStreamInfo(
        codec=ctx.name,
        profile=stream.profile,
        sample_rate=ctx.sample_rate,
        channels=ctx.channels,
        layout=ctx.layout.name,
        duration=duration,
        codec_config=codec_config(ctx.name, ctx.extradata),
    )


def parameter_sets(extradata: bytes) -> tuple[list[bytes], list[bytes]]:
    """H.264 SPS and PPS NAL units from avcC or Annex-B extradata."""
    if not extradata:
        return [], []
    if extradata[0] == 1 and len(extradata) > 7:
        sps: list[bytes] = []
        pps: list[bytes] = []
        pos = 5
        for bucket in (sps, pps):
            count = extradata[pos] & (0x1F if bucket is sps else 0xFF)
            pos += 1
            for _ in range(count):
                size = int.from_bytes(extradata[pos : pos + 2], "big")
                bucket.append(extradata[pos + 2 : pos + 2 + size])
                pos += 2 + size
        return sps, pps
    units = [u.rstrip(b"\x00") for u in extradata.split(b"\x00\x00\x01")]
    units = [u for u in units if u]
    return [u for u in units if u[0] & 0x1F == 7], [u for u in units if u[0] & 0x1F == 8]


def codec_config(codec: str, extradata: bytes | None) -> str:
    """A short digest of a stream's decoder configuration, comparable across containers."""
    data = extradata or b""
    if codec == "h264":
        sps, pps = parameter_sets(data)
        data = b"|".join([b"sps", *sps, b"pps", *pps])
    return hashlib.sha1(data).hexdigest()[:16]


def can_stream_copy(a: MediaInfo, b: MediaInfo, *, audio: bool = True) -> tuple[bool, str]:
    """Whether `b` can follow `a` in one file by stream copy; the reason names the first mismatch.

    With `audio=False` only the video streams are compared.
    """
    if a.video is None or b.video is None:
        return False, "a clip has no video stream"
    va, vb = a.video, b.video
    checks: list[tuple[str, object, object]] = [
        ("video codec", va.codec, vb.codec),
        ("video profile", va.profile, vb.profile),
        ("size", f"{va.width}x{va.height}", f"{vb.width}x{vb.height}"),
        ("pixel format", va.pix_fmt, vb.pix_fmt),
        ("frame rate", va.frame_rate, vb.frame_rate),
        ("constant frame rate", va.constant_frame_rate, vb.constant_frame_rate),
        ("rotation", va.rotation, vb.rotation),
        ("video codec configuration", va.codec_config, vb.codec_config),
    ]
    if audio:
        checks.append(("audio presence", a.audio is not None, b.audio is not None))
    if audio and a.audio is not None and b.audio is not None:
        checks += [
            ("audio codec", a.audio.codec, b.audio.codec),
            ("audio sample rate", a.audio.sample_rate, b.audio.sample_rate),
            ("audio channels", a.audio.channels, b.audio.channels),
            ("audio codec configuration", a.audio.codec_config, b.audio.codec_config),
        ]
    for name, left, right in checks:
        if left != right:
            return False, f"{name} differs: {left} in {a.path.name} vs {right} in {b.path.name}"
    if not va.constant_frame_rate:
        return False, f"{a.path.name} has a variable frame rate"
    return True, "compatible"
